//! Input as the cloud bounds it, checked once for every action before it
//! runs: names and descriptions by the cloud's lengths and characters (with
//! its error codes, per product and parameter), and the call's RegionId
//! against the regions this router serves. Control characters, invalid
//! UTF-8 and list indexes are the decoder's ([`crate::api::form`]).
use std::ops::RangeInclusive;

use crate::api::{ApiError, Product, form::Form};

/// How one text parameter is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextRule {
    /// Length in characters (an empty value is as if not given).
    pub chars: RangeInclusive<usize>,
    /// Starts with a letter (a Chinese character counts), and has only
    /// letters, digits, `:`, `_`, `.` and `-` (the ECS API's names).
    pub ecs_name: bool,
    /// The cloud's code when the value breaks the rule.
    pub code: &'static str,
}

/// Names of the VPC API: 1 to 128 characters, not starting with `http://`
/// or `https://`.
const VPC_NAME: RangeInclusive<usize> = 1..=128;
/// Descriptions of the VPC API: 1 to 256 characters, same prefixes refused.
const VPC_DESCRIPTION: RangeInclusive<usize> = 1..=256;
/// Names of the ECS API: 2 to 128 characters, starting with a letter.
const ECS_NAME: RangeInclusive<usize> = 2..=128;
/// Descriptions of the ECS API: 2 to 256 characters.
const ECS_DESCRIPTION: RangeInclusive<usize> = 2..=256;
/// A security group rule's description: 1 to 512 characters.
const RULE_DESCRIPTION: RangeInclusive<usize> = 1..=512;

/// Actions whose `Description` is a security group rule's.
const RULE_ACTIONS: &[&str] = &[
    "AuthorizeSecurityGroup",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroup",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRule",
    "ModifySecurityGroupEgressRule",
];

/// The rule of parameter `path` (`VpcName`, `Permissions.1.Description`,
/// `SystemDisk.DiskName`) of `action`, if it is a name or a description.
pub(crate) fn text_rule(product: Product, action: &str, path: &str) -> Option<TextRule> {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let rule = |chars, ecs_name, code| {
        Some(TextRule {
            chars,
            ecs_name,
            code,
        })
    };
    match product {
        Product::Vpc => match leaf {
            "VpcName" => rule(VPC_NAME, false, "InvalidVpcName.Malformed"),
            "VSwitchName" => rule(VPC_NAME, false, "InvalidVSwitchName.Malformed"),
            "RouteTableName" => rule(VPC_NAME, false, "InvalidRouteTableName.Malformed"),
            "RouteEntryName" => rule(VPC_NAME, false, "InvalidRouteEntryName.Malformed"),
            "PrefixListName" => rule(VPC_NAME, false, "IllegalParam.PrefixListName"),
            "EndpointName" => rule(VPC_NAME, false, "IllegalParam.EndpointName"),
            "Name"
            | "NetworkAclName"
            | "NetworkAclEntryName"
            | "Ipv4GatewayName"
            | "SnatEntryName"
            | "NatGatewayName"
            | "EipName" => rule(VPC_NAME, false, "InvalidName.Malformed"),
            // The cloud's own spelling for a VPC's description.
            "Description" if matches!(action, "CreateVpc" | "ModifyVpcAttribute") => {
                rule(VPC_DESCRIPTION, false, "InvalidVpcDiscription.Malformed")
            }
            "PrefixListDescription" => {
                rule(VPC_DESCRIPTION, false, "IllegalParam.PrefixListDescription")
            }
            "EndpointDescription" => {
                rule(VPC_DESCRIPTION, false, "IllegalParam.EndpointDescription")
            }
            "Description" | "Ipv4GatewayDescription" => {
                rule(VPC_DESCRIPTION, false, "InvalidDescription.Malformed")
            }
            _ => None,
        },
        Product::Ecs => match leaf {
            "InstanceName" => rule(ECS_NAME, true, "InvalidInstanceName.Malformed"),
            "SecurityGroupName" => rule(ECS_NAME, true, "InvalidSecurityGroupName.Malformed"),
            "DiskName" => rule(ECS_NAME, true, "InvalidDiskName.Malformed"),
            "NetworkInterfaceName" => rule(ECS_NAME, true, "InvalidNetworkInterfaceName.Malformed"),
            "Description" if RULE_ACTIONS.contains(&action) => {
                rule(RULE_DESCRIPTION, false, "InvalidDescription.Malformed")
            }
            "Description" => rule(ECS_DESCRIPTION, false, "InvalidDescription.Malformed"),
            _ => None,
        },
        // The NLB API: names of 2 to 128 characters starting with a letter,
        // descriptions of 2 to 256.
        Product::Nlb => match leaf {
            "LoadBalancerName" => rule(ECS_NAME, true, "IllegalParam.LoadBalancerName"),
            "ServerGroupName" => rule(ECS_NAME, true, "IllegalParam.ServerGroupName"),
            "ListenerDescription" => {
                rule(ECS_DESCRIPTION, false, "IllegalParam.ListenerDescription")
            }
            "Description" => rule(ECS_DESCRIPTION, false, "IllegalParam.Description"),
            _ => None,
        },
        // The PrivateLink API: endpoint names of 2 to 128 characters
        // starting with a letter, descriptions of 2 to 256.
        Product::PrivateLink => match leaf {
            "EndpointName" => rule(ECS_NAME, true, "IllegalParam.EndpointName"),
            "EndpointDescription" => {
                rule(ECS_DESCRIPTION, false, "IllegalParam.EndpointDescription")
            }
            "ServiceDescription" => rule(ECS_DESCRIPTION, false, "IllegalParam.ServiceDescription"),
            _ => None,
        },
        // The PrivateZone API: a record's remark.
        Product::Pvtz => match leaf {
            "Remark" => rule(ECS_DESCRIPTION, false, "Record.Invalid.Remark"),
            _ => None,
        },
    }
}

/// Checks one value against its rule: `Err(why)`.
pub(crate) fn check_text(rule: &TextRule, value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if !rule.chars.contains(&n) {
        return Err(format!(
            "it has {n} characters, not {} to {}",
            rule.chars.start(),
            rule.chars.end()
        ));
    }
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Err("it cannot start with http:// or https://".into());
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!("it has the control character {c:?}"));
    }
    if rule.ecs_name {
        if !value.chars().next().is_some_and(char::is_alphabetic) {
            return Err("it must start with a letter".into());
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-')))
        {
            return Err(format!(
                "{c:?} is not allowed: letters, digits, ':', '_', '.' and '-' are"
            ));
        }
    }
    Ok(())
}

/// Checks every name and description parameter of a call to `action`.
pub(crate) fn check_texts(product: Product, action: &str, form: &Form) -> Result<(), ApiError> {
    for (name, value) in form.pairs() {
        if value.is_empty() {
            continue;
        }
        let Some(rule) = text_rule(product, action, name) else {
            continue;
        };
        if let Err(why) = check_text(&rule, value) {
            return Err(ApiError::bad(
                rule.code,
                format!("The specified parameter \"{name}\" is not valid: {why}."),
            ));
        }
    }
    Ok(())
}

/// The longest value any parameter may have (bytes): UserData, the
/// longest the cloud takes, is 32 KiB before its base64.
pub(crate) const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Free-form identifiers that are kept (in the model, or a client token's
/// record): their longest, in characters, and whether only ASCII.
const BOUNDED: &[(&str, usize, bool)] = &[
    ("ClientToken", 64, true),
    ("ResourceGroupId", 64, true),
    ("ImageId", 128, false),
    ("InstanceType", 64, false),
];

/// Checks every value's size, and the identifiers of [`BOUNDED`]:
/// `InvalidParameter` naming the parameter. For every call, reads too; a
/// change's names and descriptions get their own rule's code instead
/// ([`check_texts`]).
pub(crate) fn check_values(
    product: Product,
    action: &str,
    mutates: bool,
    form: &Form,
) -> Result<(), ApiError> {
    for (name, value) in form.pairs() {
        if value.len() > MAX_VALUE_BYTES && !(mutates && text_rule(product, action, name).is_some())
        {
            return Err(ApiError::invalid(
                name,
                format!("it has {} bytes; at most {MAX_VALUE_BYTES}", value.len()),
            ));
        }
        if let Some((_, max, ascii)) = BOUNDED.iter().find(|(n, ..)| *n == name) {
            if value.chars().count() > *max {
                return Err(ApiError::invalid(
                    name,
                    format!("it has more than {max} characters"),
                ));
            }
            if *ascii && !value.is_ascii() {
                return Err(ApiError::invalid(
                    name,
                    "it has characters other than ASCII",
                ));
            }
        }
    }
    Ok(())
}

/// Checks the call's RegionId: the daemon's own region (`home`) for a
/// change; for a read also any region of the cloud (whose lists here are
/// empty). Anything else is `InvalidRegionId.NotFound`, as the cloud
/// answers a region it does not have.
pub(crate) fn check_region(
    region: &str,
    home: &str,
    mutates: bool,
    known: &[&str],
) -> Result<(), ApiError> {
    if region == home || (!mutates && known.contains(&region)) {
        return Ok(());
    }
    let served = if mutates {
        "changes are made in"
    } else {
        "this router serves"
    };
    Err(ApiError::not_found(
        "InvalidRegionId.NotFound",
        format!("The specified RegionId {region:?} does not exist: {served} {home}."),
    ))
}

/// Checks a new ZoneId's form: 1 to 64 letters, digits and `-`.
pub(crate) fn check_zone_id(zone: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&zone.len())
        && zone.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Ok(());
    }
    Err(ApiError::not_found(
        "InvalidZoneId.NotFound",
        format!("The specified zone {zone:?} does not exist."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(product: Product, action: &str, name: &str, value: &str) -> Result<(), ApiError> {
        check_texts(
            product,
            action,
            &Form::from_pairs([(name.to_string(), value.to_string())]).unwrap(),
        )
    }

    #[test]
    fn hardening_names_and_descriptions_are_bounded_as_the_cloud_bounds_them() {
        use Product::{Ecs, Vpc};
        let long = |n: usize| "a".repeat(n);
        let refused = [
            (
                Vpc,
                "CreateVpc",
                "VpcName",
                long(129),
                "InvalidVpcName.Malformed",
            ),
            (
                Vpc,
                "CreateVpc",
                "VpcName",
                "http://x".to_string(),
                "InvalidVpcName.Malformed",
            ),
            (
                Vpc,
                "CreateVpc",
                "VpcName",
                "HTTPS://x".to_string(),
                "InvalidVpcName.Malformed",
            ),
            (
                Vpc,
                "CreateVpc",
                "Description",
                long(257),
                "InvalidVpcDiscription.Malformed",
            ),
            (
                Vpc,
                "CreateVpc",
                "Description",
                long(1_900_000),
                "InvalidVpcDiscription.Malformed",
            ),
            (
                Vpc,
                "CreateVSwitch",
                "VSwitchName",
                long(300),
                "InvalidVSwitchName.Malformed",
            ),
            (
                Vpc,
                "CreateVSwitch",
                "Description",
                "https://evil".to_string(),
                "InvalidDescription.Malformed",
            ),
            (
                Vpc,
                "CreateRouteEntries",
                "RouteEntries.1.RouteEntryName",
                long(129),
                "InvalidRouteEntryName.Malformed",
            ),
            (
                Vpc,
                "AllocateEipAddress",
                "Name",
                long(129),
                "InvalidName.Malformed",
            ),
            (
                Ecs,
                "RunInstances",
                "InstanceName",
                "a".to_string(),
                "InvalidInstanceName.Malformed",
            ),
            (
                Ecs,
                "RunInstances",
                "InstanceName",
                "1web".to_string(),
                "InvalidInstanceName.Malformed",
            ),
            (
                Ecs,
                "RunInstances",
                "InstanceName",
                "web server".to_string(),
                "InvalidInstanceName.Malformed",
            ),
            (
                Ecs,
                "CreateSecurityGroup",
                "SecurityGroupName",
                long(129),
                "InvalidSecurityGroupName.Malformed",
            ),
            (
                Ecs,
                "CreateSecurityGroup",
                "Description",
                "d".to_string(),
                "InvalidDescription.Malformed",
            ),
            (
                Ecs,
                "AuthorizeSecurityGroup",
                "Permissions.1.Description",
                long(513),
                "InvalidDescription.Malformed",
            ),
            (
                Ecs,
                "RunInstances",
                "SystemDisk.DiskName",
                "-x".to_string(),
                "InvalidDiskName.Malformed",
            ),
        ];
        for (product, action, name, value, code) in refused {
            let e = check(product, action, name, &value).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, code),
                "{action} {name}={:.40}",
                value
            );
            assert!(e.message.contains(name), "{e:?}");
        }
        let accepted = [
            (Vpc, "CreateVpc", "VpcName", long(128)),
            (Vpc, "CreateVpc", "VpcName", "v1 body*~".to_string()),
            (Vpc, "CreateVpc", "VpcName", "x".to_string()),
            (Vpc, "CreateVpc", "Description", "中".repeat(256)),
            (
                Vpc,
                "CreateVpc",
                "Description",
                "a b*c~d/e:f+g&h=i 中文é".to_string(),
            ),
            (
                Ecs,
                "RunInstances",
                "InstanceName",
                "web-1.a_b:c".to_string(),
            ),
            (Ecs, "RunInstances", "InstanceName", "中文名".to_string()),
            (Ecs, "CreateSecurityGroup", "SecurityGroupName", long(128)),
            (
                Ecs,
                "AuthorizeSecurityGroup",
                "Permissions.1.Description",
                "x".to_string(),
            ),
            (Ecs, "CreateSecurityGroup", "Description", long(256)),
            (Ecs, "DescribeInstances", "InstanceIds", long(300)),
        ];
        for (product, action, name, value) in accepted {
            check(product, action, name, &value)
                .unwrap_or_else(|e| panic!("{action} {name}={value:.40}: {e:?}"));
        }
    }

    #[test]
    fn hardening_kept_identifiers_and_every_value_are_bounded() {
        let f = |k: &str, v: &str| Form::from_pairs([(k.to_string(), v.to_string())]).unwrap();
        for (k, v) in [
            ("ClientToken", "t".repeat(65)),
            ("ClientToken", "tökén".into()),
            ("ResourceGroupId", "r".repeat(65)),
            ("ImageId", "i".repeat(129)),
            ("Anything", "x".repeat(MAX_VALUE_BYTES + 1)),
        ] {
            let e = check_values(Product::Vpc, "CreateVpc", true, &f(k, &v)).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "InvalidParameter"),
                "{k}"
            );
            assert!(e.message.contains(k), "{e:?}");
        }
        check_values(
            Product::Vpc,
            "CreateVpc",
            true,
            &f("ClientToken", "123e4567-e89b-12d3-a456-426655440000"),
        )
        .unwrap();
        check_values(
            Product::Ecs,
            "RunInstances",
            true,
            &f("UserData", &"QUJD".repeat(10_000)),
        )
        .unwrap();
        // A change's description gets its own code (checked later).
        check_values(
            Product::Vpc,
            "CreateVpc",
            true,
            &f("Description", &"d".repeat(MAX_VALUE_BYTES + 1)),
        )
        .unwrap();
        assert!(
            check_values(
                Product::Vpc,
                "DescribeVpcs",
                false,
                &f("Description", &"d".repeat(MAX_VALUE_BYTES + 1))
            )
            .is_err()
        );
    }

    #[test]
    fn hardening_region_and_zone_ids_are_checked() {
        let known = ["cn-hangzhou", "cn-beijing"];
        check_region("cn-hangzhou", "cn-hangzhou", true, &known).unwrap();
        check_region("cn-beijing", "cn-hangzhou", false, &known).unwrap();
        for (region, mutates) in [
            ("cn-beijing", true),
            ("xx-nowhere", false),
            ("cn-hangzhou\u{0}", false),
            ("", true),
        ] {
            let e = check_region(region, "cn-hangzhou", mutates, &known).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (404, "InvalidRegionId.NotFound"),
                "{region:?}"
            );
        }
        for zone in ["a", "lab-a", "cn-hangzhou-h"] {
            check_zone_id(zone).unwrap();
        }
        for zone in ["", "a b", "zone\u{0}", &"z".repeat(65), "中"] {
            assert_eq!(
                check_zone_id(zone).unwrap_err().code,
                "InvalidZoneId.NotFound",
                "{zone:?}"
            );
        }
    }
}
