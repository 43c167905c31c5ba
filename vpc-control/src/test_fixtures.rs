//! Model fixtures shared by the unit tests.
use crate::model::Model;

/// A VPC with two vSwitches; vsw-2 uses a custom table that sends
/// 192.168.0.0/16 to the appliance i-fw (source/dest check off).
pub fn lab() -> Model {
    toml::from_str::<Model>(
        r#"
        [[vpc]]
        id = "vpc-a"
        cidr_block = "10.0.0.0/16"
        [[vswitch]]
        id = "vsw-1"
        vpc_id = "vpc-a"
        cidr_block = "10.0.1.0/24"
        [[vswitch]]
        id = "vsw-2"
        vpc_id = "vpc-a"
        cidr_block = "10.0.2.0/24"
        route_table_id = "vtb-custom"
        [[route_table]]
        id = "vtb-custom"
        vpc_id = "vpc-a"
        [[route_table.route_entry]]
        destination_cidr_block = "192.168.0.0/16"
        next_hop_type = "Instance"
        next_hop_id = "i-fw"
        [[instance]]
        id = "i-1"
        vswitch_id = "vsw-1"
        private_ip_address = "10.0.1.10"
        [[instance]]
        id = "i-fw"
        vswitch_id = "vsw-2"
        source_dest_check = false
        "#,
    )
    .unwrap()
    .with_system_route_tables()
}
