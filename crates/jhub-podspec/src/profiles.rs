//! KubeSpawner's `profile_list`: initialisation (slugs, defaults), turning
//! form fields / query arguments / REST bodies into `user_options`,
//! validating them BEFORE a spawn is accepted (KubeSpawner only fails inside
//! `start()`, often with a bare `KeyError`), applying the chosen overrides,
//! and a serialisable description of the spawn form.
//!
//! `user_options` keep KubeSpawner's shape, since they are stored and sent by
//! API clients: `{"profile": "<slug>", "<option>": "<choice>",
//! "<option>--unlisted-choice": "<free text>"}`.
//!
//! `validation_regex` follows Python's `re.match`: anchored at the start
//! only, so `^[a-z]+` accepts `abc!`. (The browser's `pattern` attribute
//! anchors both ends, so the form is stricter than the server.) The regex is
//! compiled with Rust's `regex` crate: look-around and back-references are
//! not supported and reported as a configuration error.

use crate::config::{Dict, SetTraitError, SpawnerConfig, StrayAttribute};
use crate::names::profile_slug;
use crate::pyfmt::{self, Missing};
use crate::z2jh::ValueProblem;
use serde::Serialize;
use serde_json::Value;

/// `user_options` as stored for a server.
pub type UserOptions = serde_json::Map<String, Value>;

/// The option value meaning "the free-text field" in a form `<select>`.
pub const UNLISTED_CHOICE_VALUE: &str = "unlisted-choice";
const UNLISTED_SUFFIX: &str = "--unlisted-choice";

/// One predefined choice of a profile option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The key under `choices`; the value stored in `user_options`.
    pub key: String,
    /// Text of the `<option>`.
    pub display_name: String,
    /// Selected when the user names no choice.
    pub default: bool,
    /// Settings applied when this choice is used.
    pub kubespawner_override: Dict,
}

/// The free-text ("Other...") entry of a profile option.
#[derive(Debug, Clone, Serialize)]
pub struct UnlistedChoice {
    /// Whether free text is accepted.
    pub enabled: bool,
    /// Label of the text input.
    pub display_name: String,
    /// Entry shown in the `<select>`, default `Other...`.
    pub display_name_in_choices: String,
    /// Python `re.match` pattern the text must match (see [`UnlistedChoice::accepts`]).
    pub validation_regex: Option<String>,
    /// Shown when the pattern does not match.
    pub validation_message: Option<String>,
    /// Strings may contain `{value}`, replaced by the user's text.
    pub kubespawner_override: Dict,
    #[serde(skip)]
    regex: Option<regex::Regex>,
}

impl PartialEq for UnlistedChoice {
    fn eq(&self, other: &Self) -> bool {
        self.enabled == other.enabled
            && self.display_name == other.display_name
            && self.display_name_in_choices == other.display_name_in_choices
            && self.validation_regex == other.validation_regex
            && self.validation_message == other.validation_message
            && self.kubespawner_override == other.kubespawner_override
    }
}

impl UnlistedChoice {
    /// Python `re.match(validation_regex, value)`: a match must start at the
    /// beginning of `value` but need not reach its end.
    pub fn accepts(&self, value: &str) -> bool {
        self.regex.as_ref().is_none_or(|re| re.is_match(value))
    }
}

/// One option (a `<select>`) of a profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileOption {
    /// The option key (`user_options` key).
    pub key: String,
    /// Label of the `<select>`.
    pub display_name: String,
    /// In definition order; exactly one is `default` when any exist.
    pub choices: Vec<Choice>,
    /// The free-text entry (disabled unless configured).
    pub unlisted_choice: UnlistedChoice,
}

impl ProfileOption {
    fn default_choice(&self) -> Option<&Choice> {
        self.choices.iter().find(|c| c.default)
    }

    fn choice(&self, key: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.key == key)
    }

    fn choice_keys(&self) -> String {
        self.choices.iter().map(|c| c.key.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// One initialised profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Identifier in forms and `user_options["profile"]`.
    pub slug: String,
    /// Heading shown on the spawn page.
    pub display_name: String,
    /// Paragraph under the heading (raw text; escape it when rendering).
    pub description: Option<String>,
    /// Exactly one profile of a list is the default.
    pub default: bool,
    /// Settings applied when the profile is chosen.
    pub kubespawner_override: Dict,
    /// In definition order.
    pub options: Vec<ProfileOption>,
    /// jhub's `allowed_groups: [...]`: only members of one of these hub
    /// groups may see and use the profile; `None` (the key absent) means
    /// everyone. KubeSpawner ignores the key, so the same values load there.
    pub allowed_groups: Option<Vec<String>>,
}

impl Profile {
    /// Whether a user in `groups` may use this profile.
    pub fn allows(&self, groups: &[String]) -> bool {
        self.allowed_groups.as_ref().is_none_or(|allowed| allowed.iter().any(|g| groups.contains(g)))
    }
}

/// An initialised `profile_list` (KubeSpawner's `_get_initialized_profile_list`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ProfileList {
    /// In display order.
    pub profiles: Vec<Profile>,
}

/// A structural problem in `profile_list`, at a path relative to it
/// (`[0].profile_options.image`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ProfileListError {
    /// Path relative to the list, e.g. `[0].profile_options.image`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Why `user_options` cannot be used for a spawn. Messages name the
/// offending option and list valid values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // variant fields are named in the #[error] messages
pub enum UserOptionsError {
    #[error("Unknown profile '{requested}'; choose one of: {available}")]
    UnknownProfile { requested: String, available: String },
    #[error("The profile must be given as a string (its slug), not {given}")]
    ProfileNotString { given: String },
    #[error("Unknown choice '{choice}' for option '{option}' of profile '{profile}'; choose one of: {available}")]
    UnknownChoice { profile: String, option: String, choice: String, available: String },
    #[error("The value of option '{option}' of profile '{profile}' must be a string, not {given}")]
    NotString { profile: String, option: String, given: String },
    #[error("Option '{option}' of profile '{profile}' does not accept a free-text value; choose one of: {available}")]
    UnlistedNotEnabled { profile: String, option: String, available: String },
    #[error("'{value}' is not accepted for option '{option}' of profile '{profile}': {reason}")]
    UnlistedRejected { profile: String, option: String, value: String, reason: String },
    #[error("Option '{option}' of profile '{profile}' needs a value: it has no predefined choices")]
    NoDefaultChoice { profile: String, option: String },
    #[error("user_options must be a JSON object, not {given}")]
    NotAnObject { given: String },
    /// The profile exists but is limited (`allowed_groups`) to groups the
    /// user is not in. The API answers 403.
    #[error("You are not allowed to use profile '{profile}': it is limited to members of certain groups")]
    ProfileNotAllowed { profile: String },
    /// Every profile is limited to groups the user is not in.
    #[error("No profile is available to you: every profile is limited to members of certain groups")]
    NoProfileAllowed,
    /// The chosen overrides do not fit KubeSpawner's settings (normally
    /// caught at config time; `{value}` substitutions can still fail here).
    #[error("The settings of profile '{profile}' cannot be applied: {message}")]
    Override { profile: String, message: String },
}

/// What the user picked for one option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OptionValue {
    /// A predefined choice the user named.
    Choice(String),
    /// The option's default choice (nothing named).
    Default(String),
    /// Free text for the unlisted choice.
    Unlisted(String),
}

/// Validated `user_options`: the profile and each option's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Index into [`ProfileList::profiles`].
    pub profile: usize,
    /// The chosen profile's slug.
    pub slug: String,
    /// `(option key, value)` in definition order.
    pub options: Vec<(String, OptionValue)>,
}

/// The effective settings for one spawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOptions {
    /// The settings with the profile's overrides applied.
    pub config: SpawnerConfig,
    /// `None` when no profile list is configured.
    pub selection: Option<Selection>,
    /// Override keys that are not traits (no effect; log them with their suggestion).
    pub stray_attributes: Vec<StrayAttribute>,
    /// Deprecated KubeSpawner names the overrides used (applied under their
    /// new name, like KubeSpawner; log them as warnings).
    pub deprecated_names: Vec<&'static crate::traits::DeprecatedTrait>,
}

fn python_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn render(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Text of a display field as Jinja prints it (`None` for missing would be
/// empty there; numbers print as numbers).
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn override_dict(value: Option<&Value>, path: &str, errors: &mut Vec<ProfileListError>) -> Dict {
    match value {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            errors.push(ProfileListError {
                path: format!("{path}.kubespawner_override"),
                message: "must be a mapping of KubeSpawner setting: value".into(),
            });
            Dict::new()
        }
    }
}

fn compile_match_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    // re.match semantics: anchored at the start only.
    regex::Regex::new(&format!(r"\A(?:{pattern})"))
}

impl ProfileList {
    /// Initialises `profile_list` (a list, or a mapping taken in sorted key
    /// order) like KubeSpawner: missing slugs from `display_name`
    /// (python-slugify), first choice as default where none is marked,
    /// `unlisted_choice` defaults, first profile as default where none is.
    /// Unknown keys are ignored like KubeSpawner does; what KubeSpawner
    /// would crash on is reported.
    pub fn from_config(value: &Value) -> Result<Self, Vec<ProfileListError>> {
        let mut errors = Vec::new();
        let entries: Vec<(String, &Value)> = match value {
            Value::Null => Vec::new(),
            Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v)).collect(),
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                keys.into_iter().filter_map(|k| map.get(k).map(|v| (format!(".{k}"), v))).collect()
            }
            _ => {
                return Err(vec![ProfileListError {
                    path: String::new(),
                    message: "must be a list of profiles (or a mapping of them)".into(),
                }]);
            }
        };
        let mut profiles = Vec::new();
        for (path, entry) in entries {
            if let Some(profile) = Self::profile(&path, entry, &mut errors) {
                profiles.push(profile);
            }
        }
        if !profiles.iter().any(|p| p.default)
            && let Some(first) = profiles.first_mut()
        {
            first.default = true;
        } else {
            // Several defaults: the first one is used (and the only one checked in the form).
            let mut seen = false;
            for profile in &mut profiles {
                if profile.default && seen {
                    profile.default = false;
                }
                seen |= profile.default;
            }
        }
        let mut slugs: Vec<&str> = Vec::new();
        for profile in &profiles {
            if slugs.contains(&profile.slug.as_str()) {
                errors.push(ProfileListError {
                    path: String::new(),
                    message: format!(
                        "two profiles have the slug '{}'; only the first could ever be chosen (set distinct `slug`s)",
                        profile.slug
                    ),
                });
            }
            slugs.push(&profile.slug);
        }
        if errors.is_empty() { Ok(Self { profiles }) } else { Err(errors) }
    }

    fn profile(path: &str, entry: &Value, errors: &mut Vec<ProfileListError>) -> Option<Profile> {
        let Some(map) = entry.as_object() else {
            errors.push(ProfileListError { path: path.into(), message: "must be a mapping".into() });
            return None;
        };
        let display_name = match map.get("display_name") {
            Some(Value::String(s)) => s.clone(),
            Some(other) if !other.is_null() => text(Some(other)),
            _ => {
                errors.push(ProfileListError {
                    path: format!("{path}.display_name"),
                    message: "is required (KubeSpawner fails without it)".into(),
                });
                return None;
            }
        };
        let slug = match map.get("slug") {
            None => profile_slug(&display_name),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                errors.push(ProfileListError { path: format!("{path}.slug"), message: "must be a string".into() });
                return None;
            }
        };
        let mut options = Vec::new();
        match map.get("profile_options") {
            None | Some(Value::Null) => {}
            Some(Value::Object(opts)) => {
                for (key, option) in opts {
                    let opt_path = format!("{path}.profile_options.{key}");
                    if let Some(option) = Self::option(&opt_path, key, option, errors) {
                        options.push(option);
                    }
                }
            }
            Some(_) => errors.push(ProfileListError {
                path: format!("{path}.profile_options"),
                message: "must be a mapping of option key → option".into(),
            }),
        }
        let allowed_groups = match map.get("allowed_groups") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            }
            Some(_) => {
                errors.push(ProfileListError {
                    path: format!("{path}.allowed_groups"),
                    message: "must be a list of group names".into(),
                });
                Some(Vec::new())
            }
        };
        Some(Profile {
            allowed_groups,
            slug,
            display_name,
            description: map.get("description").filter(|v| python_truthy(Some(v))).map(|v| text(Some(v))),
            default: python_truthy(map.get("default")),
            kubespawner_override: override_dict(map.get("kubespawner_override"), path, errors),
            options,
        })
    }

    fn option(path: &str, key: &str, option: &Value, errors: &mut Vec<ProfileListError>) -> Option<ProfileOption> {
        let Some(map) = option.as_object() else {
            errors.push(ProfileListError { path: path.into(), message: "must be a mapping".into() });
            return None;
        };
        if key.contains("--") {
            // The form field is `profile-option-<slug>--<key>`; KubeSpawner
            // splits the saved values on `--`, so such keys never round-trip.
            errors.push(ProfileListError { path: path.into(), message: "option keys must not contain '--'".into() });
        }
        let mut choices = Vec::new();
        match map.get("choices") {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (choice_key, choice) in entries {
                    let choice_path = format!("{path}.choices.{choice_key}");
                    let Some(choice) = choice.as_object() else {
                        errors.push(ProfileListError { path: choice_path, message: "must be a mapping".into() });
                        continue;
                    };
                    choices.push(Choice {
                        key: choice_key.clone(),
                        display_name: text(choice.get("display_name")),
                        default: python_truthy(choice.get("default")),
                        kubespawner_override: override_dict(choice.get("kubespawner_override"), &choice_path, errors),
                    });
                }
            }
            Some(_) => errors.push(ProfileListError {
                path: format!("{path}.choices"),
                message: "must be a mapping of choice key → {display_name, kubespawner_override}".into(),
            }),
        }
        if !choices.iter().any(|c| c.default)
            && let Some(first) = choices.first_mut()
        {
            first.default = true;
        }
        let unlisted_map = match map.get("unlisted_choice") {
            None | Some(Value::Null) => Dict::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                errors.push(ProfileListError {
                    path: format!("{path}.unlisted_choice"),
                    message: "must be a mapping".into(),
                });
                Dict::new()
            }
        };
        let enabled = python_truthy(unlisted_map.get("enabled"));
        let validation_regex =
            unlisted_map.get("validation_regex").filter(|v| python_truthy(Some(v))).map(|v| text(Some(v)));
        let regex = match &validation_regex {
            Some(pattern) => match compile_match_regex(pattern) {
                Ok(re) => Some(re),
                Err(e) => {
                    errors.push(ProfileListError {
                        path: format!("{path}.unlisted_choice.validation_regex"),
                        message: format!("is not a regular expression jhub can use: {e}"),
                    });
                    None
                }
            },
            None => None,
        };
        if choices.is_empty() && !enabled {
            errors.push(ProfileListError {
                path: path.into(),
                message: "has neither choices nor an enabled unlisted_choice, so no value can ever be chosen".into(),
            });
        }
        let unlisted_path = format!("{path}.unlisted_choice");
        Some(ProfileOption {
            key: key.to_string(),
            display_name: text(map.get("display_name")),
            choices,
            unlisted_choice: UnlistedChoice {
                enabled,
                display_name: text(unlisted_map.get("display_name")),
                display_name_in_choices: match unlisted_map.get("display_name_in_choices") {
                    Some(v) if !v.is_null() => text(Some(v)),
                    _ => "Other...".into(),
                },
                validation_regex,
                validation_message: unlisted_map
                    .get("validation_message")
                    .filter(|v| !v.is_null())
                    .map(|v| text(Some(v))),
                kubespawner_override: override_dict(unlisted_map.get("kubespawner_override"), &unlisted_path, errors),
                regex,
            },
        })
    }

    /// The profiles a user in `groups` may use (`allowed_groups`), with the
    /// default moved to the first of them when the configured default is
    /// not among them.
    pub fn for_groups(&self, groups: &[String]) -> ProfileList {
        let mut profiles: Vec<Profile> = self.profiles.iter().filter(|p| p.allows(groups)).cloned().collect();
        if !profiles.iter().any(|p| p.default)
            && let Some(first) = profiles.first_mut()
        {
            first.default = true;
        }
        ProfileList { profiles }
    }

    /// Whether any profile is limited to groups.
    pub fn is_group_scoped(&self) -> bool {
        self.profiles.iter().any(|p| p.allowed_groups.is_some())
    }

    /// [`ProfileList::validate`] for a user in `groups`: a profile limited to
    /// other groups is refused by name ([`UserOptionsError::ProfileNotAllowed`]),
    /// the default is the first profile the user may use. The selection
    /// indexes the list returned alongside it.
    pub fn validate_for(
        &self,
        options: &UserOptions,
        groups: &[String],
    ) -> Result<(ProfileList, Option<Selection>), UserOptionsError> {
        let visible = self.for_groups(groups);
        if let Some(Value::String(slug)) = options.get("profile").filter(|v| python_truthy(Some(v)))
            && self.profiles.iter().any(|p| &p.slug == slug)
            && !visible.profiles.iter().any(|p| &p.slug == slug)
        {
            return Err(UserOptionsError::ProfileNotAllowed { profile: slug.clone() });
        }
        if visible.is_empty() && !self.is_empty() {
            return Err(UserOptionsError::NoProfileAllowed);
        }
        let selection = visible.validate(options)?;
        Ok((visible, selection))
    }

    /// Whether no profiles are configured (then no form is shown).
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    fn default_profile(&self) -> Option<usize> {
        self.profiles.iter().position(|p| p.default)
    }

    fn slugs(&self) -> String {
        self.profiles.iter().map(|p| p.slug.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Validates `user_options` (KubeSpawner's `_validate_user_options`,
    /// plus what it only finds during the spawn: unknown choices, non-string
    /// values, options without a default). `Ok(None)` when the list is empty.
    pub fn validate(&self, options: &UserOptions) -> Result<Option<Selection>, UserOptionsError> {
        let requested = options.get("profile");
        let index = if python_truthy(requested) {
            let Some(Value::String(slug)) = requested else {
                return Err(UserOptionsError::ProfileNotString { given: requested.map(render).unwrap_or_default() });
            };
            match self.profiles.iter().position(|p| &p.slug == slug) {
                Some(idx) => idx,
                None if self.profiles.is_empty() => return Ok(None),
                None => {
                    return Err(UserOptionsError::UnknownProfile { requested: slug.clone(), available: self.slugs() });
                }
            }
        } else {
            match self.default_profile() {
                Some(idx) => idx,
                None => return Ok(None),
            }
        };
        let profile = &self.profiles[index];
        let mut chosen = Vec::new();
        for option in &profile.options {
            let err_not_string = |given: &Value| UserOptionsError::NotString {
                profile: profile.slug.clone(),
                option: option.key.clone(),
                given: render(given),
            };
            let unlisted = options.get(&format!("{}{UNLISTED_SUFFIX}", option.key));
            let choice = options.get(&option.key);
            let value = if python_truthy(unlisted) {
                let Some(Value::String(text)) = unlisted else {
                    return Err(err_not_string(unlisted.unwrap_or(&Value::Null)));
                };
                if !option.unlisted_choice.enabled {
                    return Err(UserOptionsError::UnlistedNotEnabled {
                        profile: profile.slug.clone(),
                        option: option.key.clone(),
                        available: option.choice_keys(),
                    });
                }
                if !option.unlisted_choice.accepts(text) {
                    let reason = match &option.unlisted_choice.validation_message {
                        Some(message) if !message.is_empty() => message.clone(),
                        _ => format!(
                            "it does not match the pattern {}",
                            option.unlisted_choice.validation_regex.clone().unwrap_or_default()
                        ),
                    };
                    return Err(UserOptionsError::UnlistedRejected {
                        profile: profile.slug.clone(),
                        option: option.key.clone(),
                        value: text.clone(),
                        reason,
                    });
                }
                OptionValue::Unlisted(text.clone())
            } else if python_truthy(choice) {
                let Some(Value::String(key)) = choice else {
                    return Err(err_not_string(choice.unwrap_or(&Value::Null)));
                };
                if option.choice(key).is_none() {
                    let mut available = option.choice_keys();
                    if option.unlisted_choice.enabled {
                        available.push_str(&format!(" (or free text as '{}{UNLISTED_SUFFIX}')", option.key));
                    }
                    return Err(UserOptionsError::UnknownChoice {
                        profile: profile.slug.clone(),
                        option: option.key.clone(),
                        choice: key.clone(),
                        available,
                    });
                }
                OptionValue::Choice(key.clone())
            } else {
                match option.default_choice() {
                    Some(c) => OptionValue::Default(c.key.clone()),
                    None => {
                        return Err(UserOptionsError::NoDefaultChoice {
                            profile: profile.slug.clone(),
                            option: option.key.clone(),
                        });
                    }
                }
            };
            chosen.push((option.key.clone(), value));
        }
        Ok(Some(Selection { profile: index, slug: profile.slug.clone(), options: chosen }))
    }

    /// Applies a validated selection on top of `base` (KubeSpawner's
    /// `_load_profile`): the profile's override, then each option's
    /// (unlisted with `{value}` substituted, else chosen, else default).
    pub fn apply(&self, base: &SpawnerConfig, selection: &Selection) -> Result<ResolvedOptions, UserOptionsError> {
        let mut config = base.clone();
        let mut strays = Vec::new();
        let Some(profile) = self.profiles.get(selection.profile) else {
            return Err(UserOptionsError::UnknownProfile {
                requested: selection.slug.clone(),
                available: self.slugs(),
            });
        };
        let fail = |errors: Vec<(String, SetTraitError)>| UserOptionsError::Override {
            profile: profile.slug.clone(),
            message: errors.iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join("; "),
        };
        let mut deprecated = crate::config::canonical_override(&profile.kubespawner_override).1;
        strays.extend(config.apply_override(&profile.kubespawner_override).map_err(fail)?);
        for (key, value) in &selection.options {
            let Some(option) = profile.options.iter().find(|o| &o.key == key) else { continue };
            let overrides = match value {
                OptionValue::Unlisted(text) => {
                    substitute_value(&option.unlisted_choice.kubespawner_override, text).map_err(|e| {
                        UserOptionsError::Override { profile: profile.slug.clone(), message: e.to_string() }
                    })?
                }
                OptionValue::Choice(choice) | OptionValue::Default(choice) => {
                    option.choice(choice).map(|c| c.kubespawner_override.clone()).unwrap_or_default()
                }
            };
            deprecated.extend(crate::config::canonical_override(&overrides).1);
            strays.extend(config.apply_override(&overrides).map_err(fail)?);
        }
        Ok(ResolvedOptions {
            config,
            selection: Some(selection.clone()),
            stray_attributes: strays,
            deprecated_names: deprecated,
        })
    }

    /// The spawn form's content: every profile, which one is checked and
    /// which choice of each option is selected, pre-selecting `saved` (the
    /// server's last `user_options`) when they are still valid.
    pub fn form(&self, saved: &UserOptions) -> SpawnForm {
        let saved_selection = if saved.is_empty() { None } else { self.validate(saved).ok().flatten() };
        let checked = saved_selection.as_ref().map(|s| s.profile).or_else(|| self.default_profile());
        let profiles = self
            .profiles
            .iter()
            .enumerate()
            .map(|(idx, profile)| {
                let saved_here = saved_selection.as_ref().filter(|s| s.profile == idx);
                FormProfile {
                    slug: profile.slug.clone(),
                    display_name: profile.display_name.clone(),
                    description: profile.description.clone(),
                    is_default: profile.default,
                    checked: checked == Some(idx),
                    radio_id: format!("profile-item-{}", profile.slug),
                    options: profile.options.iter().map(|option| form_option(profile, option, saved_here)).collect(),
                }
            })
            .collect();
        SpawnForm { profiles }
    }
}

fn form_option(profile: &Profile, option: &ProfileOption, saved: Option<&Selection>) -> FormOption {
    let field_name = format!("profile-option-{}--{}", profile.slug, option.key);
    let saved_value = saved.and_then(|s| s.options.iter().find(|(k, _)| k == &option.key)).map(|(_, v)| v.clone());
    let selected = match &saved_value {
        Some(OptionValue::Unlisted(_)) => UNLISTED_CHOICE_VALUE.to_string(),
        Some(OptionValue::Choice(key)) | Some(OptionValue::Default(key)) => key.clone(),
        None => option.default_choice().map(|c| c.key.clone()).unwrap_or_else(|| {
            if option.unlisted_choice.enabled { UNLISTED_CHOICE_VALUE.to_string() } else { String::new() }
        }),
    };
    FormOption {
        key: option.key.clone(),
        display_name: option.display_name.clone(),
        choices: option
            .choices
            .iter()
            .map(|c| FormChoice {
                key: c.key.clone(),
                display_name: c.display_name.clone(),
                is_default: c.default,
                selected: selected == c.key,
            })
            .collect(),
        unlisted: option.unlisted_choice.enabled.then(|| FormUnlisted {
            field_name: format!("{field_name}{UNLISTED_SUFFIX}"),
            display_name: option.unlisted_choice.display_name.clone(),
            display_name_in_choices: option.unlisted_choice.display_name_in_choices.clone(),
            validation_regex: option.unlisted_choice.validation_regex.clone(),
            validation_message: option.unlisted_choice.validation_message.clone(),
            value: match &saved_value {
                Some(OptionValue::Unlisted(text)) => Some(text.clone()),
                _ => None,
            },
            selected: selected == UNLISTED_CHOICE_VALUE,
        }),
        selected,
        field_name,
    }
}

/// KubeSpawner's `recursive_format(v, value=...)` on each override value:
/// every string (and nested mapping key) gets `{value}` replaced; other
/// `{fields}` stay as written; `{{`/`}}` become braces.
fn substitute_value(overrides: &Dict, text: &str) -> Result<Dict, pyfmt::FormatError> {
    fn walk(value: &Value, text: &str) -> Result<Value, pyfmt::FormatError> {
        let fmt = |s: &str| {
            pyfmt::format(s, &|name| (name == "value").then(|| text.to_string()), &|| "value".into(), Missing::Keep)
        };
        Ok(match value {
            Value::String(s) => Value::String(fmt(s)?),
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, text)).collect::<Result<_, _>>()?),
            Value::Object(map) => Value::Object(
                map.iter().map(|(k, v)| Ok((fmt(k)?, walk(v, text)?))).collect::<Result<_, pyfmt::FormatError>>()?,
            ),
            other => other.clone(),
        })
    }
    overrides.iter().map(|(k, v)| Ok((k.clone(), walk(v, text)?))).collect()
}

/// Validates `user_options` against `cfg.profile_list` and applies the
/// chosen overrides (KubeSpawner's `load_user_options`).
pub fn resolve(cfg: &SpawnerConfig, options: &UserOptions) -> Result<ResolvedOptions, UserOptionsError> {
    let list = ProfileList::from_config(&cfg.profile_list).map_err(|errors| UserOptionsError::Override {
        profile: String::new(),
        message: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
    })?;
    match list.validate(options)? {
        Some(selection) => list.apply(cfg, &selection),
        None => Ok(ResolvedOptions {
            config: cfg.clone(),
            selection: None,
            stray_attributes: Vec::new(),
            deprecated_names: Vec::new(),
        }),
    }
}

/// What a spawn for a user in `groups` gets, as JupyterHub 5 + KubeSpawner
/// 7.1 compute it: first `Spawner.group_overrides` ([`apply_group_overrides`]),
/// then the profile list (possibly changed by those overrides) limited to the
/// profiles the groups may use (`allowed_groups`), then the selected
/// profile's overrides. The selection's slug names the resolved profile.
pub fn resolve_for(
    cfg: &SpawnerConfig,
    options: &UserOptions,
    groups: &[String],
) -> Result<ResolvedOptions, UserOptionsError> {
    let (grouped, _) = apply_group_overrides(cfg, groups)?;
    let list = ProfileList::from_config(&grouped.profile_list).map_err(|errors| UserOptionsError::Override {
        profile: String::new(),
        message: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
    })?;
    match list.validate_for(options, groups)? {
        (visible, Some(selection)) => visible.apply(&grouped, &selection),
        (_, None) => Ok(ResolvedOptions {
            config: grouped,
            selection: None,
            stray_attributes: Vec::new(),
            deprecated_names: Vec::new(),
        }),
    }
}

/// JupyterHub 5's `Spawner.apply_group_overrides`: for each entry of
/// `group_overrides` in sorted key order whose `groups` share a name with
/// the user's groups, its `spawner_override` is applied (mappings merge,
/// like a profile's `kubespawner_override`). Returns the keys applied.
pub fn apply_group_overrides(
    cfg: &SpawnerConfig,
    groups: &[String],
) -> Result<(SpawnerConfig, Vec<String>), UserOptionsError> {
    let mut out = cfg.clone();
    let mut applied = Vec::new();
    let mut keys: Vec<&String> = cfg.group_overrides.keys().collect();
    keys.sort();
    for key in keys {
        let Some(entry) = cfg.group_overrides.get(key) else { continue };
        let members = entry.get("groups").and_then(Value::as_array).cloned().unwrap_or_default();
        if !members.iter().filter_map(Value::as_str).any(|g| groups.iter().any(|mine| mine == g)) {
            continue;
        }
        let overrides = entry.get("spawner_override").and_then(Value::as_object).cloned().unwrap_or_default();
        out.apply_override(&overrides).map_err(|errors| UserOptionsError::Override {
            profile: format!("group_overrides.{key}"),
            message: errors.iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join("; "),
        })?;
        applied.push(key.clone());
    }
    Ok((out, applied))
}

/// Form fields (or query arguments) → `user_options`, as KubeSpawner's
/// `options_from_form`: `profile` (first value), and for that profile every
/// `profile-option-<slug>--<rest>` field as `<rest>: <first value>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FormOptions {
    /// The resulting `user_options`.
    pub user_options: UserOptions,
    /// Fields that are neither `profile` nor `profile-option-*` (KubeSpawner logs and drops them).
    pub ignored_fields: Vec<String>,
}

/// See [`FormOptions`]. `fields` are `(name, value)` pairs in request order.
pub fn options_from_form<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> FormOptions {
    let fields: Vec<(&str, &str)> = fields.into_iter().collect();
    let mut result = FormOptions::default();
    let profile = fields.iter().find(|(name, _)| *name == "profile").map(|(_, v)| *v).unwrap_or("");
    if !profile.is_empty() {
        result.user_options.insert("profile".into(), Value::String(profile.into()));
        let prefix = format!("profile-option-{profile}--");
        for (name, value) in &fields {
            if let Some(rest) = name.strip_prefix(prefix.as_str())
                && !result.user_options.contains_key(rest)
            {
                result.user_options.insert(rest.to_string(), Value::String((*value).to_string()));
            }
        }
    }
    for (name, _) in &fields {
        if *name != "profile"
            && !name.starts_with("profile-option-")
            && !result.ignored_fields.iter().any(|f| f == name)
        {
            result.ignored_fields.push((*name).to_string());
        }
    }
    result.ignored_fields.sort();
    result
}

/// A REST spawn body → `user_options` (the body is taken as is; it must be an object).
pub fn options_from_json(body: &Value) -> Result<UserOptions, UserOptionsError> {
    match body {
        Value::Object(map) => Ok(map.clone()),
        other => Err(UserOptionsError::NotAnObject { given: render(other) }),
    }
}

/// Config-time check of a `profile_list` against the trait table, with
/// `path` the values path of the list (e.g. `singleuser.profileList`):
/// structure errors, override keys that are not traits (warning with a
/// suggestion for scalar values like `cpu_gurantee: 1`; error for mappings),
/// and values of the wrong type (error).
pub fn check_profile_list(value: &Value, path: &str, base: &SpawnerConfig) -> Vec<ValueProblem> {
    let list = match ProfileList::from_config(value) {
        Ok(list) => list,
        Err(errors) => {
            return errors.into_iter().map(|e| ValueProblem::error(format!("{path}{}", e.path), e.message)).collect();
        }
    };
    let keyed = value.is_object();
    let mut problems = Vec::new();
    let mut profile_paths: Vec<String> = match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter().map(|k| format!("{path}.{k}")).collect()
        }
        _ => (0..list.profiles.len()).map(|i| format!("{path}[{i}]")).collect(),
    };
    if keyed && profile_paths.len() != list.profiles.len() {
        profile_paths = (0..list.profiles.len()).map(|i| format!("{path}[{i}]")).collect();
    }
    for (profile, profile_path) in list.profiles.iter().zip(profile_paths) {
        check_override(
            base,
            &profile.kubespawner_override,
            &format!("{profile_path}.kubespawner_override"),
            false,
            &mut problems,
        );
        for option in &profile.options {
            let option_path = format!("{profile_path}.profile_options.{}", option.key);
            for choice in &option.choices {
                let choice_path = format!("{option_path}.choices.{}.kubespawner_override", choice.key);
                check_override(base, &choice.kubespawner_override, &choice_path, false, &mut problems);
            }
            let unlisted_path = format!("{option_path}.unlisted_choice.kubespawner_override");
            check_override(base, &option.unlisted_choice.kubespawner_override, &unlisted_path, true, &mut problems);
        }
    }
    problems
}

fn contains_placeholder(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{value}"),
        Value::Array(items) => items.iter().any(contains_placeholder),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains("{value}") || contains_placeholder(v)),
        _ => false,
    }
}

fn check_override(
    base: &SpawnerConfig,
    overrides: &Dict,
    path: &str,
    templated: bool,
    problems: &mut Vec<ValueProblem>,
) {
    for (key, value) in overrides {
        let key_path = format!("{path}.{key}");
        let mut one = Dict::new();
        // A `{value}` placeholder is only known at spawn time: check the key, not the value.
        let probe = if templated && contains_placeholder(value) {
            match crate::traits::lookup(key).map(|d| d.kind) {
                Some(crate::traits::TraitKind::Dict | crate::traits::TraitKind::ListOrDict) if value.is_object() => {
                    Value::Object(Dict::new())
                }
                Some(_) => continue,
                None => value.clone(),
            }
        } else {
            value.clone()
        };
        one.insert(key.clone(), probe);
        let mut cfg = base.clone();
        match cfg.apply_override(&one) {
            Ok(strays) => {
                for stray in strays {
                    problems.push(ValueProblem::warning(key_path.clone(), stray.to_string()));
                }
            }
            Err(errors) => {
                for (_, error) in errors {
                    problems.push(ValueProblem::error(key_path.clone(), error.to_string()));
                }
            }
        }
        if key == "environment"
            && let Some(env) = value.as_object()
        {
            for (name, item) in env {
                if let Err(message) = crate::manifest::check_env_value(item) {
                    problems.push(ValueProblem::error(format!("{key_path}.{name}"), message));
                }
            }
        }
    }
}

/// The spawn form, for the web crate to render (`templates` decide the HTML;
/// field names and values must stay as given so `options_from_form` works).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpawnForm {
    /// In display order.
    pub profiles: Vec<FormProfile>,
}

/// One profile: a radio button `name="profile" value="<slug>" id="<radio_id>"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormProfile {
    /// The radio button's value.
    pub slug: String,
    /// Heading (raw text: escape it).
    pub display_name: String,
    /// Paragraph under the heading (raw text: escape it).
    pub description: Option<String>,
    /// Whether this is the configured default profile.
    pub is_default: bool,
    /// Pre-checked (saved profile, else the default one).
    pub checked: bool,
    /// `profile-item-<slug>`.
    pub radio_id: String,
    /// The profile's options in definition order.
    pub options: Vec<FormOption>,
}

/// One option: `<select name="<field_name>" id="<field_name>">`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormOption {
    /// The option key.
    pub key: String,
    /// Label of the `<select>`.
    pub display_name: String,
    /// `profile-option-<slug>--<key>`.
    pub field_name: String,
    /// Predefined choices in definition order.
    pub choices: Vec<FormChoice>,
    /// Present when free text is allowed: an extra `<option value="unlisted-choice">`
    /// and a text input.
    pub unlisted: Option<FormUnlisted>,
    /// The pre-selected `<option>` value: a choice key or `unlisted-choice`.
    pub selected: String,
}

/// One `<option value="<key>">`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormChoice {
    /// The `<option>` value.
    pub key: String,
    /// The `<option>` text (raw: escape it).
    pub display_name: String,
    /// Whether this is the option's default choice.
    pub is_default: bool,
    /// Pre-selected.
    pub selected: bool,
}

/// The free-text input of an option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormUnlisted {
    /// `profile-option-<slug>--<key>--unlisted-choice`: the input's name when
    /// "Other" is selected (the select then must not submit its own name).
    pub field_name: String,
    /// Label of the text input.
    pub display_name: String,
    /// Text of the extra `<option value="unlisted-choice">`.
    pub display_name_in_choices: String,
    /// For the input's `pattern` attribute.
    pub validation_regex: Option<String>,
    /// For the input's `title` attribute.
    pub validation_message: Option<String>,
    /// Saved free text to pre-fill.
    pub value: Option<String>,
    /// Whether "Other" is pre-selected.
    pub selected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_like() -> Value {
        json!([
            {"display_name": "CPU 分区", "description": "cpu", "default": true,
             "kubespawner_override": {"cpu_limit": 8, "cpu_gurantee": 1},
             "profile_options": {"image": {"display_name": "主机", "choices": {
                 "lab6": {"display_name": "l1", "kubespawner_override": {"node_selector": {"kubernetes.io/hostname": "l1"}}},
                 "lab9": {"display_name": "l2", "kubespawner_override": {"node_selector": {"kubernetes.io/hostname": "l2"}}}}}}},
            {"display_name": "GPU 分区",
             "kubespawner_override": {"image": "gpu:v3"},
             "profile_options": {"image": {"display_name": "资源配置", "choices": {
                 "A100x1": {"display_name": "A100", "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "1"}}},
                 "P100x1": {"display_name": "P100"}}}}},
            {"display_name": "Custom", "slug": "custom",
             "profile_options": {"image": {"display_name": "Image",
                 "unlisted_choice": {"enabled": true, "display_name": "Image ref",
                     "validation_regex": "^quay\\.io/", "validation_message": "Must be a quay.io image",
                     "kubespawner_override": {"image": "{value}", "environment": {"IMAGE_{value}": "{value}-{username}"}}}}}}
        ])
    }

    fn options(value: Value) -> UserOptions {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn initialisation_fills_slugs_and_defaults() {
        let list = ProfileList::from_config(&seed_like()).unwrap();
        let slugs: Vec<&str> = list.profiles.iter().map(|p| p.slug.as_str()).collect();
        assert_eq!(slugs, ["cpu-fen-qu", "gpu-fen-qu", "custom"]);
        assert!(list.profiles[0].default && !list.profiles[1].default);
        assert!(list.profiles[1].options[0].choices[0].default);
        assert_eq!(list.profiles[2].options[0].unlisted_choice.display_name_in_choices, "Other...");
        let dict_form =
            ProfileList::from_config(&json!({"b": {"display_name": "B"}, "a": {"display_name": "A"}})).unwrap();
        assert_eq!(dict_form.profiles[0].slug, "a");
        assert!(dict_form.profiles[0].default);
    }

    #[test]
    fn validation_names_the_problem() {
        let list = ProfileList::from_config(&seed_like()).unwrap();
        let err = list.validate(&options(json!({"profile": "gpu-fen-qu", "image": "nope"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown choice 'nope' for option 'image' of profile 'gpu-fen-qu'; choose one of: A100x1, P100x1"
        );
        let err = list.validate(&options(json!({"profile": "nope"}))).unwrap_err();
        assert_eq!(err.to_string(), "Unknown profile 'nope'; choose one of: cpu-fen-qu, gpu-fen-qu, custom");
        let err = list.validate(&options(json!({"profile": "cpu-fen-qu", "image--unlisted-choice": "x"}))).unwrap_err();
        assert!(matches!(err, UserOptionsError::UnlistedNotEnabled { .. }));
        let err =
            list.validate(&options(json!({"profile": "custom", "image--unlisted-choice": "docker.io/x"}))).unwrap_err();
        assert!(err.to_string().contains("Must be a quay.io image"), "{err}");
        let err = list.validate(&options(json!({"profile": "custom"}))).unwrap_err();
        assert!(matches!(err, UserOptionsError::NoDefaultChoice { .. }));
        let err = list.validate(&options(json!({"profile": "gpu-fen-qu", "image": 3}))).unwrap_err();
        assert!(matches!(err, UserOptionsError::NotString { .. }));
        // re.match: anchored at the start only.
        let ok =
            list.validate(&options(json!({"profile": "custom", "image--unlisted-choice": "quay.io/x:1 trailing"})));
        assert!(ok.is_ok());
        // Empty options and unknown keys fall back to defaults.
        let sel = list.validate(&options(json!({"garbage": 1}))).unwrap().unwrap();
        assert_eq!(sel.slug, "cpu-fen-qu");
        assert_eq!(sel.options, vec![("image".to_string(), OptionValue::Default("lab6".into()))]);
    }

    #[test]
    fn apply_merges_overrides_and_substitutes_value() {
        let mut base = SpawnerConfig::default();
        base.set_traits(json!({"profile_list": seed_like(), "environment": {"A": "1"}}).as_object().unwrap()).unwrap();
        let resolved = resolve(&base, &options(json!({"profile": "gpu-fen-qu", "image": "A100x1"}))).unwrap();
        assert_eq!(resolved.config.image, "gpu:v3");
        assert_eq!(resolved.config.extra_resource_limits, json!({"nvidia.com/gpu": "1"}).as_object().unwrap().clone());
        let resolved = resolve(&base, &options(json!({}))).unwrap();
        assert_eq!(resolved.config.cpu_limit, Some(8.0));
        assert_eq!(resolved.stray_attributes.len(), 1);
        assert_eq!(resolved.config.node_selector, json!({"kubernetes.io/hostname": "l1"}).as_object().unwrap().clone());
        let resolved =
            resolve(&base, &options(json!({"profile": "custom", "image--unlisted-choice": "quay.io/me/nb:1"})))
                .unwrap();
        assert_eq!(resolved.config.image, "quay.io/me/nb:1");
        assert_eq!(
            resolved.config.environment,
            json!({"A": "1", "IMAGE_quay.io/me/nb:1": "quay.io/me/nb:1-{username}"}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn form_fields_become_user_options() {
        let parsed = options_from_form([
            ("profile", "gpu-fen-qu"),
            ("profile-option-cpu-fen-qu--image", "lab6"),
            ("profile-option-gpu-fen-qu--image", "A100x1"),
            ("profile-option-gpu-fen-qu--image", "P100x1"),
            ("_xsrf", "t"),
            ("profile", "cpu-fen-qu"),
        ]);
        assert_eq!(parsed.user_options, options(json!({"profile": "gpu-fen-qu", "image": "A100x1"})));
        assert_eq!(parsed.ignored_fields, ["_xsrf"]);
        let unlisted =
            options_from_form([("profile", "custom"), ("profile-option-custom--image--unlisted-choice", "quay.io/x")]);
        assert_eq!(unlisted.user_options, options(json!({"profile": "custom", "image--unlisted-choice": "quay.io/x"})));
        assert!(options_from_form([("profile", "")]).user_options.is_empty());
        assert!(options_from_json(&json!([1])).is_err());
    }

    #[test]
    fn form_preselects_saved_options() {
        let list = ProfileList::from_config(&seed_like()).unwrap();
        let fresh = list.form(&UserOptions::new());
        assert!(fresh.profiles[0].checked && !fresh.profiles[1].checked);
        assert_eq!(fresh.profiles[1].options[0].selected, "A100x1");
        assert_eq!(fresh.profiles[1].options[0].field_name, "profile-option-gpu-fen-qu--image");
        let saved = list.form(&options(json!({"profile": "gpu-fen-qu", "image": "P100x1"})));
        assert!(!saved.profiles[0].checked && saved.profiles[1].checked);
        assert_eq!(saved.profiles[1].options[0].selected, "P100x1");
        assert!(saved.profiles[1].options[0].choices[1].selected);
        let custom = list.form(&options(json!({"profile": "custom", "image--unlisted-choice": "quay.io/a"})));
        let unlisted = custom.profiles[2].options[0].unlisted.clone().unwrap();
        assert!(unlisted.selected);
        assert_eq!(unlisted.value.as_deref(), Some("quay.io/a"));
        assert_eq!(unlisted.field_name, "profile-option-custom--image--unlisted-choice");
        // Stale saved options are not pre-selected.
        let stale = list.form(&options(json!({"profile": "gpu-fen-qu", "image": "gone"})));
        assert!(stale.profiles[0].checked);
    }

    #[test]
    fn config_check_reports_paths() {
        let mut list = seed_like();
        list[1]["kubespawner_override"]["mem_limit"] = json!("16Gi");
        list[1]["profile_options"]["image"]["choices"]["P100x1"]["kubespawner_override"] =
            json!({"node_selectr": {"a": "b"}});
        let problems = check_profile_list(&list, "singleuser.profileList", &SpawnerConfig::default());
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.starts_with("warning: singleuser.profileList[0].kubespawner_override.cpu_gurantee:")
                && t.contains("did you mean 'cpu_guarantee'")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("error: singleuser.profileList[1].kubespawner_override.mem_limit:")
                && t.contains("16Gi is not a valid memory specification")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with(
                "error: singleuser.profileList[1].profile_options.image.choices.P100x1.kubespawner_override.node_selectr:"
            )),
            "{text:#?}"
        );
        assert_eq!(problems.len(), 3, "{text:#?}");
        let bad = check_profile_list(&json!([{"slug": "x"}]), "p", &SpawnerConfig::default());
        assert_eq!(bad[0].path, "p[0].display_name");
    }

    fn opts(v: Value) -> UserOptions {
        v.as_object().cloned().unwrap_or_default()
    }

    fn group_scoped() -> SpawnerConfig {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(
            json!({
                "profile_list": [
                    {"display_name": "CPU", "slug": "cpu", "kubespawner_override": {"cpu_limit": 2}},
                    {"display_name": "GPU", "slug": "gpu", "default": true, "allowed_groups": ["lab/gpu"],
                     "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "1"}}}
                ],
                "group_overrides": {
                    "02-gpu": {"groups": ["lab/gpu"], "spawner_override": {"cpu_limit": 16, "environment": {"B": "2"}}},
                    "01-all": {"groups": ["lab", "lab/gpu"], "spawner_override": {"environment": {"A": "1"}, "cpu_limit": 4}}
                }
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
        cfg
    }

    #[test]
    fn allowed_groups_limit_profiles_and_the_default_moves() {
        let cfg = group_scoped();
        let lab = vec!["lab".to_string()];
        let gpu = vec!["lab".to_string(), "lab/gpu".to_string()];
        let list = ProfileList::from_config(&cfg.profile_list).unwrap();
        assert_eq!(list.for_groups(&gpu).slugs(), "cpu, gpu");
        let visible = list.for_groups(&lab);
        assert_eq!(visible.slugs(), "cpu");
        assert!(visible.profiles[0].default, "the configured default is hidden: the first visible one is default");
        // Asking for the hidden profile names it; the default is what the user may use.
        let err = resolve_for(&cfg, &opts(json!({"profile": "gpu"})), &lab).unwrap_err();
        assert_eq!(err, UserOptionsError::ProfileNotAllowed { profile: "gpu".into() });
        assert!(err.to_string().contains("'gpu'"));
        assert_eq!(resolve_for(&cfg, &UserOptions::new(), &lab).unwrap().selection.unwrap().slug, "cpu");
        assert_eq!(resolve_for(&cfg, &UserOptions::new(), &gpu).unwrap().selection.unwrap().slug, "gpu");
        // Nobody outside both groups gets anything but CPU; no groups at all still gets CPU.
        assert_eq!(resolve_for(&cfg, &UserOptions::new(), &[]).unwrap().selection.unwrap().slug, "cpu");
        // Unknown profiles stay 400-style errors.
        assert!(matches!(
            resolve_for(&cfg, &opts(json!({"profile": "tpu"})), &gpu),
            Err(UserOptionsError::UnknownProfile { .. })
        ));
    }

    #[test]
    fn group_overrides_apply_in_key_order_before_the_profile() {
        let cfg = group_scoped();
        let gpu = vec!["lab/gpu".to_string()];
        let (grouped, applied) = apply_group_overrides(&cfg, &gpu).unwrap();
        assert_eq!(applied, ["01-all", "02-gpu"]);
        assert_eq!(grouped.cpu_limit, Some(16.0), "02-gpu comes after 01-all");
        assert_eq!(grouped.environment.get("A"), Some(&json!("1")));
        assert_eq!(grouped.environment.get("B"), Some(&json!("2")), "mappings merge");
        let (plain, none) = apply_group_overrides(&cfg, &["other".to_string()]).unwrap();
        assert!(none.is_empty());
        assert_eq!(plain.cpu_limit, cfg.cpu_limit);
        // The profile's override comes last: the CPU profile sets 2 over the group's 4.
        let resolved = resolve_for(&cfg, &opts(json!({"profile": "cpu"})), &["lab".to_string()]).unwrap();
        assert_eq!(resolved.config.cpu_limit, Some(2.0));
        assert_eq!(resolved.config.environment.get("A"), Some(&json!("1")));
    }
}
