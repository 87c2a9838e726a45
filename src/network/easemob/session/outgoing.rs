//! The frames a session sends: the Provision (never compressed), UNREAD (also the
//! heartbeat), the STATISTIC "client info" meta, SYNC uplinks (send, pull, ack), and the MSync
//! envelope with optional LZ4 — the SDK's byte layout (protocol reference §1.5, §1.6).

use std::time::Instant;

use prost::Message as _;

use super::{InFlight, Output, Session, ACTION_VERSION, SDK_VERSION};
use crate::network::easemob::jid;
use crate::network::easemob::proto::{
    self, m_sync, meta, provision, statistics_body, CommSyncUl, Jid, MSync, Meta, Provision,
    StatisticsBody,
};

impl Session {
    pub(super) fn transmit_meta(&mut self, meta: Meta, now: Instant) {
        let id = meta.id.unwrap_or(0);
        let ul = CommSyncUl {
            meta: Some(meta.clone()),
            ..Default::default()
        };
        self.send_sync(ul);
        self.in_flight.insert(
            id,
            InFlight {
                meta,
                deadline: now + self.cfg.ack_timeout,
            },
        );
    }

    pub(super) fn send_unread(&mut self, now: Instant) {
        self.last_heartbeat = now;
        let frame = self.envelope(m_sync::Command::Unread, Vec::new(), false);
        self.push_frame(frame);
    }

    /// The STATISTIC/INFORMATION "client info" meta the SDK sends after login.
    pub(super) fn send_information(&mut self, _now: Instant) {
        let id = self.allocate_id();
        self.internal_ids.insert(id);
        let body = StatisticsBody {
            operation: Some(statistics_body::Operation::Information as i32),
            ..Default::default()
        };
        let ul = CommSyncUl {
            meta: Some(Meta {
                id: Some(id),
                ns: Some(meta::NameSpace::Statistic as i32),
                payload: Some(body.encode_to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.send_sync(ul);
    }

    pub(super) fn send_sync(&mut self, ul: CommSyncUl) {
        let frame = self.envelope(m_sync::Command::Sync, ul.encode_to_vec(), false);
        self.push_frame(frame);
    }

    pub(super) fn envelope(
        &self,
        command: m_sync::Command,
        payload: Vec<u8>,
        with_auth: bool,
    ) -> MSync {
        let mut m = MSync {
            version: Some(m_sync::Version::MsyncV1 as i32),
            command: Some(command as i32),
            payload: Some(payload),
            encrypt_type: vec![proto::EncryptType::EncryptNone as i32],
            ..Default::default()
        };
        if with_auth {
            m.guid = Some(self.own_jid(true));
            m.auth = Some(format!("$t${}", self.cfg.token));
        }
        m
    }

    pub(super) fn own_jid(&self, with_resource: bool) -> Jid {
        let mut j = jid::user_jid(&self.cfg.app_key, &self.cfg.user);
        if with_resource {
            j.client_resource = Some(self.cfg.resource.clone());
        }
        j
    }

    pub(super) fn push_frame(&mut self, msync: MSync) {
        let bytes = msync.encode_to_vec();
        let bytes = match self.up.as_mut() {
            Some(c) => c.compress(&bytes),
            None => bytes,
        };
        self.outputs.push_back(Output::Transmit(bytes));
    }

    pub(super) fn provision_frame(&self) -> Vec<u8> {
        let compress = if self.cfg.offer_lz4 && !self.lz4_failed {
            vec![provision::CompressType::CompressLz4 as i32]
        } else {
            Vec::new()
        };
        let p = Provision {
            os_type: Some(self.cfg.os_type),
            version: Some(SDK_VERSION.to_owned()),
            compress_type: vec![provision::CompressType::CompressNone as i32],
            encrypt_type: vec![proto::EncryptType::EncryptNone as i32],
            device_uuid: Some(self.cfg.device_uuid.clone()),
            device_name: Some(self.cfg.device_name.clone()),
            resource: Some(self.cfg.resource.clone()),
            action_version: Some(ACTION_VERSION.to_owned()),
            auth_token: Some(
                serde_json::json!({ "token": format!("$t${}", self.cfg.token) }).to_string(),
            ),
            session_id: Some(self.session_id.clone()),
            protocol_compress_type: compress,
            ..Default::default()
        };
        // The Provision itself is never compressed.
        self.envelope(m_sync::Command::Provision, p.encode_to_vec(), true)
            .encode_to_vec()
    }
}
