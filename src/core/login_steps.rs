//! A login in progress, driven one value at a time: the state machine between a connector's
//! [`LoginProcess`] and whoever asks the user (the bot's `login` command; later the
//! provisioning API). It owns the current step, the values collected for it so far (checked
//! against each field's pattern), submitting them once complete, and turning the process's
//! steps into what to do next ([`NextStep`]): ask for one field, show something and wait, or
//! finish with the [`LoginData`] to store.
//!
//! Nothing here logs a value: [`LoginInput`] prints field ids only.

use super::connector::{
    LoginData, LoginDisplay, LoginFailure, LoginFlow, LoginInput, LoginInputField, LoginProcess,
    LoginStep, NetworkConnector,
};

/// What the driver of a [`PendingLogin`] does next.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    /// Ask the user for `field`, then give the answer to [`PendingLogin::fill`] and call
    /// [`PendingLogin::advance`] again.
    Ask {
        field: LoginInputField,
        /// The first field of its step (prompts say "Send your …", later ones "Now send …").
        first: bool,
        /// The step's instructions, given with its first field only; may be empty.
        instructions: String,
    },
    /// Show `display` with `instructions`; the next [`PendingLogin::advance`] waits for it
    /// to be acted on.
    Display {
        instructions: String,
        display: LoginDisplay,
    },
    /// Done: store `data` and start the session; tell the user `instructions` (may be empty).
    Complete {
        data: LoginData,
        instructions: String,
    },
}

/// One login in progress for one flow.
pub struct PendingLogin {
    /// The flow being followed.
    pub flow: LoginFlow,
    process: Box<dyn LoginProcess>,
    step: LoginStep,
    /// Values collected for the current `user_input` step.
    values: LoginInput,
    /// The current `display_and_wait` step was shown (the next advance waits).
    shown: bool,
    /// For a re-login (mautrix's `relogin`): the account the login must come back as; a
    /// completed login for another account is refused by whoever finishes it.
    pub relogin: Option<String>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("flow", &self.flow.id)
            .field("step", &self.step.step_id())
            .field("values", &self.values)
            .finish()
    }
}

impl PendingLogin {
    /// Starts flow `flow_id` of `connector` for Matrix user `matrix_user` (its first step is
    /// fetched, nothing is asked yet). An unknown flow is [`LoginFailure::Refused`] naming the
    /// known ones.
    pub async fn begin(
        connector: &dyn NetworkConnector,
        flow_id: &str,
        matrix_user: &str,
    ) -> Result<PendingLogin, LoginFailure> {
        let flows = connector.login_flows();
        let Some(flow) = flows.iter().find(|f| f.id == flow_id).cloned() else {
            let known: Vec<&str> = flows.iter().map(|f| f.id.as_str()).collect();
            return Err(LoginFailure::Refused(format!(
                "there is no login flow `{flow_id}` (known: {})",
                known.join(", ")
            )));
        };
        let mut process = connector.create_login_for(flow_id, matrix_user)?;
        let step = process.start().await?;
        Ok(Self {
            flow,
            process,
            step,
            values: LoginInput::new(),
            shown: false,
            relogin: None,
        })
    }

    /// The current step.
    pub fn step(&self) -> &LoginStep {
        &self.step
    }

    /// The field the current `user_input` step needs next, if any.
    pub fn next_field(&self) -> Option<&LoginInputField> {
        match &self.step {
            LoginStep::UserInput { fields, .. } => {
                fields.iter().find(|f| self.values.get(&f.id).is_none())
            }
            _ => None,
        }
    }

    /// Gives the value of [`PendingLogin::next_field`]. `Err` (in words, without the value)
    /// when no field is waiting or the value does not fit the field; the field stays asked.
    pub fn fill(&mut self, value: &str) -> Result<(), String> {
        let field = self
            .next_field()
            .ok_or_else(|| "no value is asked for now".to_owned())?;
        field.check(value)?;
        let id = field.id.clone();
        self.values.insert(id, value);
        Ok(())
    }

    /// Fills the current step's fields in order from `values` (`login <flow> <v1> <v2>`).
    /// More values than fields is an error, and nothing is filled then.
    pub fn fill_all(&mut self, values: &[&str]) -> Result<(), String> {
        let waiting = match &self.step {
            LoginStep::UserInput { fields, .. } => fields.len().saturating_sub(self.values.len()),
            _ => 0,
        };
        if values.len() > waiting {
            return Err(format!(
                "too many values: this step asks for {waiting} at most"
            ));
        }
        values.iter().try_for_each(|v| self.fill(v))
    }

    /// Moves on: asks for the next missing field, or submits a complete `user_input` step,
    /// or waits on a shown `display_and_wait` step, until something needs the user or the
    /// login completes. A failure ends the process (the caller drops it).
    pub async fn advance(&mut self) -> Result<NextStep, LoginFailure> {
        loop {
            match &self.step {
                LoginStep::UserInput {
                    fields,
                    instructions,
                    ..
                } => {
                    if let Some(field) = self.next_field() {
                        let first = fields.first().is_some_and(|f| f.id == field.id);
                        return Ok(NextStep::Ask {
                            field: field.clone(),
                            first,
                            instructions: if first {
                                instructions.clone()
                            } else {
                                String::new()
                            },
                        });
                    }
                    if fields.is_empty() {
                        return Err(LoginFailure::Refused(
                            "the network asked for nothing (a connector bug)".into(),
                        ));
                    }
                    let input = std::mem::take(&mut self.values);
                    let next = self.process.submit_user_input(input).await?;
                    self.set_step(next);
                }
                LoginStep::DisplayAndWait {
                    instructions,
                    display,
                    ..
                } => {
                    if !self.shown {
                        self.shown = true;
                        return Ok(NextStep::Display {
                            instructions: instructions.clone(),
                            display: display.clone(),
                        });
                    }
                    let next = self.process.wait().await?;
                    self.set_step(next);
                }
                LoginStep::Complete {
                    data, instructions, ..
                } => {
                    return Ok(NextStep::Complete {
                        data: data.clone(),
                        instructions: instructions.clone(),
                    })
                }
            }
        }
    }

    /// The user gave up: the process releases what it holds.
    pub async fn cancel(mut self) {
        self.process.cancel().await;
    }

    fn set_step(&mut self, step: LoginStep) {
        self.step = step;
        self.values = LoginInput::new();
        self.shown = false;
    }
}

#[cfg(test)]
#[path = "login_steps_tests.rs"]
mod tests;
