//! Checks a JSON answer against a schema of docs/openapi.json, so the document cannot drift from
//! what the API really sends: every required property present, no undocumented property, types
//! (with `null` only where the document allows it) and enums as documented.

use serde_json::Value;

pub fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("docs/openapi.json is JSON")
}

/// Panics with every difference between `value` and the component schema `name`.
pub fn assert_conforms(doc: &Value, name: &str, value: &Value) {
    let schema = &doc["components"]["schemas"][name];
    assert!(!schema.is_null(), "docs/openapi.json has no schema {name}");
    let mut problems = Vec::new();
    check(doc, schema, value, name, &mut problems);
    assert!(
        problems.is_empty(),
        "the answer does not match schema {name}:\n  {}\nanswer: {value:#}",
        problems.join("\n  ")
    );
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("local component reference");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(options) = schema["anyOf"].as_array() {
        // Only used as `anyOf: [{$ref}, {type: null}]` for a nullable object.
        if value.is_null() && options.iter().any(|o| types(o).contains(&"null")) {
            return;
        }
        let target = options
            .iter()
            .find(|o| !types(o).contains(&"null"))
            .unwrap();
        return check(doc, target, value, at, problems);
    }
    let schema = resolve(doc, schema);
    let allowed = types(schema);
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"));
    if !fits {
        problems.push(format!("{at}: is {actual}, documented as {allowed:?}"));
        return;
    }
    if let (Some(options), Value::String(s)) = (schema["enum"].as_array(), value)
        && !options.iter().any(|o| o == s)
    {
        problems.push(format!("{at}: {s:?} is not one of the documented values"));
    }
    match value {
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap();
                if !map.contains_key(required) {
                    problems.push(format!("{at}.{required}: documented as required, missing"));
                }
            }
            for (key, item) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => check(doc, property, item, &format!("{at}.{key}"), problems),
                    None => problems.push(format!("{at}.{key}: not documented")),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"), problems);
            }
        }
        _ => {}
    }
}
