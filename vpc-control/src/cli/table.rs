//! `-o table`: an API answer as a table for people. The first list of
//! objects in the answer becomes rows (scalar fields as columns, ids
//! first); an answer without a list becomes name/value rows.
use serde_json::Value;

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            Some(a.iter().filter_map(scalar).collect::<Vec<_>>().join(","))
        }
        _ => None,
    }
}

/// The first array of objects, depth first.
fn rows(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Array(a) if a.first().is_some_and(Value::is_object) => Some(a),
        Value::Object(o) => o.values().find_map(rows),
        _ => None,
    }
}

fn grid(header: &[String], body: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| body.iter().map(|r| r[c].chars().count()).chain([header[c].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let mut s = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(header);
    for r in body {
        out += &line(r);
    }
    out
}

/// Renders an answer as a table.
pub fn render(v: &Value) -> String {
    if let Some(items) = rows(v) {
        let mut cols: Vec<String> = Vec::new();
        for item in items {
            for (k, x) in item.as_object().into_iter().flatten() {
                if scalar(x).is_some() && !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
        // Drop columns empty in every row; the resource's own ids and names
        // first.
        cols.retain(|c| items.iter().any(|i| i.get(c).and_then(scalar).is_some_and(|s| !s.is_empty())));
        const CONTEXT: &[&str] = &["RegionId", "ZoneId", "ImageId", "ResourceGroupId", "OwnerId"];
        cols.sort_by_key(|c| match c.as_str() {
            c if c.ends_with("Id") && !CONTEXT.contains(&c) => 0,
            c if c.ends_with("Name") => 1,
            _ => 2,
        });
        let body: Vec<Vec<String>> = items
            .iter()
            .map(|i| cols.iter().map(|c| i.get(c).and_then(scalar).unwrap_or_default()).collect())
            .collect();
        return grid(&cols, &body);
    }
    let body: Vec<Vec<String>> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, x)| vec![k.clone(), scalar(x).unwrap_or_else(|| x.to_string())])
        .collect();
    grid(&["Name".to_string(), "Value".to_string()], &body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn lists_become_rows_with_ids_first() {
        let v = json!({ "RequestId": "r", "Vpcs": { "Vpc": [
            { "CidrBlock": "10.0.0.0/16", "VpcId": "vpc-1", "VSwitchIds": { "VSwitchId": ["a"] } },
        ] } });
        let t = super::render(&v);
        assert_eq!(t, "VpcId  CidrBlock\nvpc-1  10.0.0.0/16\n");
    }

    #[test]
    fn plain_answers_become_name_value_rows() {
        let t = super::render(&json!({ "RequestId": "r", "VpcId": "vpc-1" }));
        assert_eq!(t, "Name       Value\nRequestId  r\nVpcId      vpc-1\n");
    }
}
