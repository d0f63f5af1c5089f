//! Invalid policies: every rule and every error, with its exact
//! FILE:LINE:COL, YAML path, message and hint. Generated from reviewed
//! output and pinned; a changed message must be a deliberate change.
#![allow(clippy::unwrap_used)]

use openshell_sandbox::policy::parse_str;

/// All diagnostics for `yaml`, rendered as the binary prints them.
fn errors(yaml: &str) -> String {
    rendered(parse_str("p.yaml", yaml))
}

/// The same for a file's bytes, as `load` reads them.
fn byte_errors(bytes: &[u8]) -> String {
    rendered(openshell_sandbox::policy::parse_bytes("p.yaml", bytes))
}

fn rendered<T>(r: Result<T, Vec<openshell_sandbox::error::Diagnostic>>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(d) => d
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn access_and_rules() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        port: 443\n        access: read-only\n        rules:\n          - allow: {method: GET}\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:7:17: network_policies.api.endpoints[0].access: access and rules are mutually exclusive"
    );
}

#[test]
fn all_at_once() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [tmp]\n  raed_write: []\nprocess:\n  run_as_user: root\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        port: 70000\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:15: filesystem_policy.read_only[0]: \"tmp\" is not an absolute path\nhint: write it from the root, e.g. \"/tmp\"\np.yaml:4:3: filesystem_policy.raed_write: unknown field \"raed_write\"\nhint: did you mean \"read_write\"?\np.yaml:6:16: process.run_as_user: \"root\" is not allowed; the workload never runs as root\nhint: use a numeric id such as 1000, or a non-root name from the image's /etc/passwd\np.yaml:11:15: network_policies.api.endpoints[0].port: expected an integer in 0..=65535, found 70000"
    );
}

#[test]
fn anchors_rejected() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: &ro [/usr]\n  read_write: *ro\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:14: anchors and aliases are not supported"
    );
}

#[test]
fn bad_cdi_name() {
    let yaml = "version: 1\ndevices:\n  cdi:\n    devices: [gpu0]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:15: devices.cdi.devices[0]: \"gpu0\" is not a fully-qualified CDI name (vendor/class=name)\nhint: run `openshell-sandbox devices` on the node to list the names"
    );
}

#[test]
fn binary_relative_is_accepted_as_openshell_does() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - {host: api.example.com, port: 443}\n    binaries:\n      - path: usr/bin/curl\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn compatibility_unknown() {
    let yaml = "version: 1\nlandlock:\n  compatibility: strict\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:18: landlock.compatibility: unknown variant \"strict\"\nhint: expected one of: best_effort, hard_requirement"
    );
}

#[test]
fn connect_port_zero() {
    let yaml = "version: 1\nnetwork:\n  connect_tcp: [0]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:17: network.connect_tcp[0]: port 0 is not a port; expected 1..65535"
    );
}

#[test]
fn unix_sockets_off_undone_by_seccomp_allow_socket() {
    let yaml = "version: 1\nnetwork:\n  unix_sockets: false\nseccomp:\n  allow: [socket]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:17: network.unix_sockets: false is undone by seccomp.allow: [socket], which drops every socket rule"
    );
}

#[test]
fn network_knobs_are_booleans() {
    let yaml = "version: 1\nnetwork:\n  allow_listen: 1\n";
    assert!(
        errors(yaml).starts_with("p.yaml:3:17: network.allow_listen:"),
        "{}",
        errors(yaml)
    );
}

#[test]
fn document_is_a_list() {
    let yaml = "- version: 1\n";
    assert_eq!(errors(yaml), "p.yaml:1:1: expected a mapping, found a list");
}

#[test]
fn duplicate_key() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr]\n  read_only: [/lib]\n";
    assert_eq!(errors(yaml), "p.yaml:4:3: duplicate key \"read_only\"");
}

#[test]
fn empty_document() {
    let yaml = "";
    assert_eq!(
        errors(yaml),
        "p.yaml:1:1: the document is empty\nhint: a policy starts with `version: 1`"
    );
}

#[test]
fn empty_rules() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        port: 443\n        rules: []\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:7:16: network_policies.api.endpoints[0].rules: rules is an empty list, which allows nothing\nhint: remove rules, or list at least one allow rule"
    );
}

#[test]
fn endpoint_without_host() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - port: 443\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:9: network_policies.api.endpoints[0]: endpoint has no host\nhint: set host, or allowed_ips for an address-only endpoint"
    );
}

#[test]
fn endpoint_without_port() {
    let yaml =
        "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:9: network_policies.api.endpoints[0]: endpoint has no port\nhint: set port (or ports) to a value in 1..65535"
    );
}

#[test]
fn env_bad_name() {
    let yaml = "version: 1\nenvironment:\n  pass: [\"1BAD\"]\n  set:\n    \"A=B\": x\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: environment.pass[0]: \"1BAD\" is not a variable name (or NAME_PREFIX*)\np.yaml:5:12: environment.set[\"A=B\"]: \"A=B\" is not a variable name"
    );
}

#[test]
fn include_workdir_not_bool() {
    let yaml = "version: 1\nfilesystem_policy:\n  include_workdir: \"yes\"\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:20: filesystem_policy.include_workdir: expected a boolean, found a string"
    );
}

#[test]
fn missing_version() {
    let yaml = "filesystem_policy:\n  read_only: [/usr]\n";
    assert_eq!(errors(yaml), "p.yaml:1:1: missing field \"version\"");
}

#[test]
fn control_characters_in_a_path() {
    // A line break would forge a line of the text plan and the logs.
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [\"/tmp/\\nopenshell-sandbox: fake\", \"/\\t/tmp\"]\n  read_only: [/usr]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: filesystem_policy.read_write[0]: path contains the control character \\n\np.yaml:3:50: filesystem_policy.read_write[1]: path contains the control character \\t"
    );
}

#[test]
fn parent_component() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr/../etc]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:15: filesystem_policy.read_only[0]: \"/usr/../etc\" contains a \"..\" component"
    );
}

#[test]
fn port_70000() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        port: 70000\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:6:15: network_policies.api.endpoints[0].port: expected an integer in 0..=65535, found 70000"
    );
}

#[test]
fn port_negative() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        ports: [443, -1]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:6:22: network_policies.api.endpoints[0].ports[1]: expected an integer in 0..=65535, found -1"
    );
}

#[test]
fn read_only_not_a_list() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: /usr\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:14: filesystem_policy.read_only: expected a list, found a string"
    );
}

#[test]
fn read_only_root_allowed() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn read_write_root() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [/]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: filesystem_policy.read_write[0]: \"/\" would make the whole filesystem writable\nhint: list the directories the workload writes to, e.g. /tmp"
    );
}

#[test]
fn read_write_root_dot() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [\"/.\"]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: filesystem_policy.read_write[0]: \"/.\" would make the whole filesystem writable\nhint: list the directories the workload writes to, e.g. /tmp"
    );
}

#[test]
fn read_write_root_double_slash() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [\"//\"]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: filesystem_policy.read_write[0]: \"//\" would make the whole filesystem writable\nhint: list the directories the workload writes to, e.g. /tmp"
    );
}

#[test]
fn relative_read_only() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only:\n    - /usr\n    - tmp/x\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:7: filesystem_policy.read_only[1]: \"tmp/x\" is not an absolute path\nhint: write it from the root, e.g. \"/tmp/x\""
    );
}

#[test]
fn relative_read_write() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [./data]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: filesystem_policy.read_write[0]: \"./data\" is not an absolute path\nhint: write it from the root, e.g. \"/data\""
    );
}

#[test]
fn rlimit_soft_above_hard() {
    let yaml = "version: 1\nprocess:\n  rlimits:\n    nofile: {soft: 4096, hard: 1024}\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:13: process.rlimits.nofile: soft limit is above the hard limit"
    );
}

#[test]
fn run_as_group_zero_string() {
    let yaml = "version: 1\nprocess:\n  run_as_group: \"0\"\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:17: process.run_as_group: 0 is root; the workload never runs as root\nhint: use a numeric id such as 1000, or a non-root name from the image's /etc/passwd"
    );
}

#[test]
fn run_as_user_bad_name() {
    let yaml = "version: 1\nprocess:\n  run_as_user: \"bad name\"\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: process.run_as_user: \"bad name\" is not a valid user or group name"
    );
}

#[test]
fn run_as_user_root() {
    let yaml = "version: 1\nprocess:\n  run_as_user: root\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: process.run_as_user: \"root\" is not allowed; the workload never runs as root\nhint: use a numeric id such as 1000, or a non-root name from the image's /etc/passwd"
    );
}

#[test]
fn run_as_user_too_big() {
    let yaml = "version: 1\nprocess:\n  run_as_user: 4294967295\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: process.run_as_user: 4294967295 is out of range 1..4294967294"
    );
}

#[test]
fn run_as_user_zero() {
    let yaml = "version: 1\nprocess:\n  run_as_user: 0\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:16: process.run_as_user: 0 is root; the workload never runs as root\nhint: use a numeric id such as 1000, or a non-root name from the image's /etc/passwd"
    );
}

#[test]
fn sigv4_without_service() {
    let yaml = "version: 1\nnetwork_policies:\n  s3:\n    endpoints:\n      - host: s3.amazonaws.com\n        port: 443\n        credential_signing: sigv4\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:7:29: network_policies.s3.endpoints[0].credential_signing: credential_signing needs signing_service"
    );
}

#[test]
fn syntax_bad_mapping() {
    let yaml = "version: 1\nlandlock: compatibility: best_effort\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:2:24: mapping values are not allowed in this context"
    );
}

#[test]
fn syntax_tab_indent() {
    let yaml = "version: 1\nfilesystem_policy:\n\tread_only: []\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:2: tabs disallowed within this context (block indentation)"
    );
}

#[test]
fn syntax_unclosed_flow() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr, /lib\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:1: while parsing a flow sequence, expected ',' or ']'"
    );
}

#[test]
fn tcp_ip_literal() {
    let yaml = "version: 1\nnetwork_policies:\n  db:\n    endpoints:\n      - host: 10.0.0.5\n        port: 5432\n        protocol: tcp\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:15: network_policies.db.endpoints[0].host: \"10.0.0.5\" is not a DNS host name (tcp endpoints need one)"
    );
}

#[test]
fn tld_wildcard() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: \"*.com\"\n        port: 443\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:15: network_policies.api.endpoints[0].host: \"*.com\" is a wildcard over a top-level domain"
    );
}

#[test]
fn unknown_capability() {
    let yaml = "version: 1\ncapabilities:\n  keep: [NET_BIND_SERVCE]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: capabilities.keep[0]: unknown capability \"NET_BIND_SERVCE\""
    );
}

#[test]
fn unknown_key_depth2() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr]\n  raed_write: [/tmp]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:3: filesystem_policy.raed_write: unknown field \"raed_write\"\nhint: did you mean \"read_write\"?"
    );
}

#[test]
fn unknown_key_depth4() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - hots: api.example.com\n        port: 443\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:9: network_policies.api.endpoints[0].hots: unknown field \"hots\"\nhint: did you mean \"host\"?"
    );
}

#[test]
fn unknown_key_depth6() {
    let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - host: api.example.com\n        port: 443\n        rules:\n          - allow:\n              methd: GET\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:9:15: network_policies.api.endpoints[0].rules[0].allow.methd: unknown field \"methd\"\nhint: did you mean \"method\"?"
    );
}

#[test]
fn unknown_key_top() {
    let yaml = "version: 1\nfilesystem:\n  read_only: [/usr]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:2:1: filesystem: unknown field \"filesystem\"\nhint: expected one of: version, filesystem_policy, landlock, process, network_policies, network_middlewares, network, seccomp, capabilities, devices, environment"
    );
}

#[test]
fn version_2() {
    let yaml = "version: 2\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:1:10: version: unsupported policy version 2\nhint: this build accepts version 1"
    );
}

#[test]
fn version_string() {
    let yaml = "version: \"1\"\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:1:10: version: expected an integer, found a string"
    );
}

#[test]
fn too_many_paths() {
    let mut y = String::from("version: 1\nfilesystem_policy:\n  read_only:\n");
    for i in 0..200 {
        y.push_str(&format!("    - /p{i}\n"));
    }
    y.push_str("  read_write:\n");
    for i in 0..57 {
        y.push_str(&format!("    - /w{i}\n"));
    }
    assert_eq!(
        errors(&y),
        "p.yaml:3:3: filesystem_policy: too many filesystem paths (257 > 256)"
    );
    // 256 is allowed.
    let ok = y.replacen("    - /w56\n", "", 1);
    assert_eq!(errors(&ok), "ok");
}

#[test]
fn path_longer_than_4096_bytes() {
    let long = format!("/{}", "a".repeat(4096));
    let y = format!("version: 1\nfilesystem_policy:\n  read_only:\n    - {long}\n");
    assert_eq!(
        errors(&y),
        "p.yaml:4:7: filesystem_policy.read_only[0]: path is 4097 bytes long; the limit is 4096"
    );
    let ok = format!(
        "version: 1\nfilesystem_policy:\n  read_only:\n    - /{}\n",
        "a".repeat(4095)
    );
    assert_eq!(errors(&ok), "ok");
}

#[test]
fn oversized_document_is_refused_before_parsing() {
    let y = format!("version: 1\n# {}\n", "x".repeat(1024 * 1024));
    assert_eq!(
        errors(&y),
        "p.yaml:1:1: document is larger than 1048576 bytes; refusing to parse it"
    );
}

#[test]
fn seccomp_unknown_syscall() {
    let yaml = "version: 1\nseccomp:\n  allow: [ptrase]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:11: seccomp.allow[0]: unknown syscall \"ptrase\" (did you mean \"ptrace\"?)"
    );
}

#[test]
fn seccomp_allow_and_deny_conflict() {
    let yaml = "version: 1\nseccomp:\n  allow: [ptrace]\n  deny: [mount, ptrace]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:17: seccomp.deny[1]: \"ptrace\" is in both seccomp.allow and seccomp.deny"
    );
}

#[test]
fn seccomp_unknown_action() {
    let yaml = "version: 1\nseccomp:\n  action: trap\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:11: seccomp.action: unknown variant \"trap\"\nhint: expected one of: errno, kill"
    );
}

#[test]
fn keeping_setgid_is_refused() {
    let yaml = "version: 1\ncapabilities:\n  keep: [NET_BIND_SERVICE, SETGID]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:28: capabilities.keep[1]: CAP_SETGID cannot be kept: setresgid(0)/setgroups([0]) give the workload root's group and every root-group file"
    );
}

#[test]
fn keeping_every_identity_capability_is_refused_even_acknowledged() {
    let yaml = "version: 1\ncapabilities:\n  keep: [SETUID, CAP_SETPCAP, setfcap]\n  bypass_acknowledged: [SETUID, SETPCAP, SETFCAP]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: capabilities.keep[0]: CAP_SETUID cannot be kept: setresuid(0) makes the workload root again\n\
         p.yaml:3:18: capabilities.keep[1]: CAP_SETPCAP cannot be kept: raises bounding-set capabilities into its inheritable set and changes securebits, which gives capabilities back across exec\n\
         p.yaml:3:31: capabilities.keep[2]: CAP_SETFCAP cannot be kept: sets file capabilities, which give capabilities to processes outside the sandbox that exec the file"
    );
}

#[test]
fn keeping_dac_override_without_acknowledgement() {
    let yaml = "version: 1\ncapabilities:\n  keep: [DAC_OVERRIDE]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: capabilities.keep[0]: keeping CAP_DAC_OVERRIDE bypasses the sandbox: reads and writes files inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)\n\
         hint: if the workload needs it, acknowledge it with capabilities.bypass_acknowledged: [DAC_OVERRIDE]"
    );
    let ok = "version: 1\ncapabilities:\n  keep: [DAC_OVERRIDE]\n  bypass_acknowledged: [CAP_DAC_OVERRIDE]\n";
    assert_eq!(errors(ok), "ok");
}

#[test]
fn acknowledgement_without_keep() {
    let yaml = "version: 1\ncapabilities:\n  keep: [NET_BIND_SERVICE]\n  bypass_acknowledged: [MKNOD, NET_BIND_SERVIC]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:25: capabilities.bypass_acknowledged[0]: CAP_MKNOD is acknowledged but not in capabilities.keep\n\
         hint: add it to capabilities.keep, or remove the acknowledgement\n\
         p.yaml:4:32: capabilities.bypass_acknowledged[1]: unknown capability \"NET_BIND_SERVIC\""
    );
}

#[test]
fn seccomp_allow_that_reopens_a_kept_capability() {
    let yaml =
        "version: 1\ncapabilities:\n  keep: [SYS_TIME]\nseccomp:\n  allow: [clock_settime]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: capabilities.keep[0]: keeping CAP_SYS_TIME bypasses the sandbox: sets the node's clock (settimeofday, clock_settime, clock_adjtime, adjtimex), which seccomp refuses; seccomp.allow gives back clock_settime\n\
         hint: if the workload needs it, acknowledge it with capabilities.bypass_acknowledged: [SYS_TIME]"
    );
    let quiet = "version: 1\ncapabilities:\n  keep: [SYS_TIME]\n";
    assert_eq!(errors(quiet), "ok");
}

#[test]
fn empty_key_at_the_end_points_inside_the_file() {
    // Without a final line break the YAML parser places an empty key on
    // the line after the last one; found by fuzz/run.sh.
    assert_eq!(
        errors("version: 1\n? # no key\n# end"),
        "p.yaml:3:6: [\"\"]: unknown field \"\"\nhint: expected one of: version, filesystem_policy, landlock, process, network_policies, network_middlewares, network, seccomp, capabilities, devices, environment"
    );
}

#[test]
fn ports_with_zero_is_refused_not_dropped() {
    let yaml = "version: 1\nnetwork_policies:\n  db:\n    endpoints:\n      - host: db.example.com\n        ports: [0, 443]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:6:17: network_policies.db.endpoints[0].ports[0]: port 0 is not a port; expected 1..65535"
    );
}

#[test]
fn uppercase_tcp_is_tcp() {
    let yaml = "version: 1\nnetwork_policies:\n  db:\n    endpoints:\n      - host: 10.0.0.5\n        port: 5432\n        protocol: TCP\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:15: network_policies.db.endpoints[0].host: \"10.0.0.5\" is not a DNS host name (tcp endpoints need one)"
    );
}

#[test]
fn execute_empty_list_would_stop_the_workload() {
    let yaml = "version: 1\nfilesystem_policy:\n  read_write: [/tmp]\n  execute: []\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:12: filesystem_policy.execute: an empty list lets nothing run, not even the workload\nhint: list the directories that hold the workload's programs, e.g. /usr and /bin"
    );
}

#[test]
fn execute_relative_and_root() {
    let yaml = "version: 1\nfilesystem_policy:\n  execute: [usr, /]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:13: filesystem_policy.execute[0]: \"usr\" is not an absolute path\nhint: write it from the root, e.g. \"/usr\"\np.yaml:3:18: filesystem_policy.execute[1]: \"/\" makes every file executable, which is what omitting execute does\nhint: list the directories that hold programs, e.g. /usr, or remove execute"
    );
}

#[test]
fn execute_with_no_items_is_an_empty_list_not_an_absent_one() {
    // Every item commented out: absent would turn W^X off.
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr]\n  execute:\n  #  - /usr\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:4:10: filesystem_policy.execute: an empty list lets nothing run, not even the workload\nhint: list the directories that hold the workload's programs, e.g. /usr and /bin"
    );
    // Control: the key left out is W^X off, as documented.
    let yaml = "version: 1\nfilesystem_policy:\n  read_only: [/usr]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn a_yaml_directive_for_another_version_is_refused() {
    // Under YAML 1.1 this uid would be octal (1000); this reader applies 1.2.
    let yaml = "%YAML 1.1\n---\nversion: 1\nprocess:\n  run_as_user: 01750\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:1:1: %YAML 1.1: this reader applies YAML 1.2 (where 0755 is decimal and only true/false are booleans); write %YAML 1.2 or remove the directive"
    );
    let yaml = "%YAML 1.2\n---\nversion: 1\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn denying_execve_is_refused() {
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, execve]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:18: seccomp.deny[1]: execve is how the workload is started: denying it means nothing ever runs\nhint: remove execve from seccomp.deny (the default rules already refuse execveat on a descriptor)"
    );
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, execveat]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn denying_what_the_supervisor_calls_under_the_filter_is_refused() {
    // Between installing the filter and the exec the supervisor reads
    // back what it applied and resets the workload's signals.
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, pread64, rt_sigaction, rt_sigprocmask]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:18: seccomp.deny[1]: pread64 is one the supervisor makes under the filter, before it starts the workload (to read back what it applied): denying it means nothing ever runs\nhint: remove pread64 from seccomp.deny\n\
         p.yaml:3:27: seccomp.deny[2]: rt_sigaction is one the supervisor makes under the filter, before it starts the workload (to give the workload default signal handling): denying it means nothing ever runs\nhint: remove rt_sigaction from seccomp.deny\n\
         p.yaml:3:41: seccomp.deny[3]: rt_sigprocmask is one the supervisor makes under the filter, before it starts the workload (to give the workload default signal handling): denying it means nothing ever runs\nhint: remove rt_sigprocmask from seccomp.deny"
    );
    // Control: prctl and getpid the supervisor asks before the filter.
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, prctl, getpid, preadv]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn denying_write_is_refused() {
    // Under the filter the supervisor writes the line saying why a launch
    // stopped (a workload that cannot be executed) and the --report.
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, write]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:18: seccomp.deny[1]: write is how the supervisor says why a launch stopped under the filter, and writes --report: denying it leaves a failed launch silent\nhint: remove write from seccomp.deny"
    );
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace, writev, pwrite64]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn denying_exit_is_refused() {
    // A failed exec (or the workload) would retry exit forever.
    let yaml = "version: 1\nseccomp:\n  deny: [exit_group, exit]\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:3:10: seccomp.deny[0]: exit_group is how a process ends: denying it leaves the workload unable to exit\nhint: remove exit_group from seccomp.deny\np.yaml:3:22: seccomp.deny[1]: exit is how a process ends: denying it leaves the workload unable to exit\nhint: remove exit from seccomp.deny"
    );
    let yaml = "version: 1\nseccomp:\n  deny: [ptrace]\n";
    assert_eq!(errors(yaml), "ok");
}

#[test]
fn endpoints_in_all_network_policies_are_bounded() {
    // Every two endpoints are compared for conflicting proxy settings.
    let policy = |policies: usize, each: usize| {
        let mut yaml = String::from("version: 1\nnetwork_policies:\n");
        for i in 0..policies {
            yaml.push_str(&format!("  p{i}:\n    endpoints:\n"));
            for j in 0..each {
                yaml.push_str(&format!(
                    "      - {{host: h{i}.example.com, port: {}}}\n",
                    j + 1
                ));
            }
        }
        yaml
    };
    assert_eq!(
        errors(&policy(5, 820)),
        "p.yaml:3:3: network_policies: too many endpoints in all (4100 > 4096)"
    );
    assert_eq!(errors(&policy(4, 1024)), "ok");
}

#[test]
fn groups_environment_names_and_devices_are_bounded() {
    // A 1 MiB policy holds a hundred thousand of each; a launch took
    // seconds over them (and the kernel takes at most 65,536 groups).
    let list = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(", ");
    for (n, want) in [
        (
            1025,
            "p.yaml:2:33: process.supplementary_groups: too many groups (1025 > 1024)",
        ),
        (1024, "ok"),
    ] {
        let yaml = format!(
            "version: 1\nprocess: {{supplementary_groups: [{}]}}\n",
            list(n, &|i| (1000 + i).to_string())
        );
        assert_eq!(errors(&yaml), want);
    }
    for (n, want) in [
        (
            1025,
            "p.yaml:3:9: environment.pass: too many names (1025 > 1024)",
        ),
        (1024, "ok"),
    ] {
        let yaml = format!(
            "version: 1\nenvironment:\n  pass: [{}]\n",
            list(n, &|i| format!("K{i}"))
        );
        assert_eq!(errors(&yaml), want);
    }
    for (n, want) in [
        (
            1025,
            "p.yaml:4:14: devices.cdi.devices: too many devices (1025 > 1024)",
        ),
        (1024, "ok"),
    ] {
        let yaml = format!(
            "version: 1\ndevices:\n  cdi:\n    devices: [{}]\n",
            list(n, &|i| format!("example.com/dev={i}"))
        );
        assert_eq!(errors(&yaml), want);
    }
}

#[test]
fn syscall_lists_and_network_policies_are_bounded() {
    let names = vec!["ptrace"; 1025].join(", ");
    let yaml = format!("version: 1\nseccomp:\n  deny: [{names}]\n");
    assert_eq!(
        errors(&yaml),
        "p.yaml:3:9: seccomp.deny: too many syscall names (1025 > 1024)"
    );
    let names = vec!["ptrace"; 1024].join(", ");
    let yaml = format!("version: 1\nseccomp:\n  deny: [{names}]\n");
    assert_eq!(errors(&yaml), "ok");
    let mut yaml = String::from("version: 1\nnetwork_policies:\n");
    for i in 0..1025 {
        yaml.push_str(&format!(
            "  p{i}:\n    endpoints: [{{host: h{i}.example.com, port: 443}}]\n"
        ));
    }
    assert_eq!(
        errors(&yaml),
        "p.yaml:3:3: network_policies: too many network policies (1025 > 1024)"
    );
}

#[test]
fn items_after_a_bad_item_keep_their_own_place() {
    // The items with structural errors are left out of the value the rules
    // check; what the rules find after them is still placed at its own
    // index, line and column.
    let yaml = "version: 1\nseccomp:\n  deny:\n    - getpid\n    - [x]\n    - {a: 1}\n    - zzz\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:7: seccomp.deny[1]: expected a string, found a list\np.yaml:6:7: seccomp.deny[2]: expected a string, found a mapping\np.yaml:7:7: seccomp.deny[3]: unknown syscall \"zzz\""
    );
    // Control: nothing left out, the same unknown name at index 1.
    let yaml = "version: 1\nseccomp:\n  deny:\n    - getpid\n    - zzz\n";
    assert_eq!(
        errors(yaml),
        "p.yaml:5:7: seccomp.deny[1]: unknown syscall \"zzz\""
    );
}

#[test]
fn bytes_that_are_not_utf8_are_placed_where_they_are() {
    assert_eq!(
        byte_errors(b"version: 1\nprocess:\n  workdir: /t\xffmp\n"),
        "p.yaml:3:14: file is not valid UTF-8 (byte 33)"
    );
    // Multi-byte characters before it count as one column each.
    let mut bytes = "version: 1\n# \u{e9}\u{e9}".as_bytes().to_vec();
    bytes.extend_from_slice(b"\xfe\n");
    assert_eq!(
        byte_errors(&bytes),
        "p.yaml:2:5: file is not valid UTF-8 (byte 17)"
    );
    assert_eq!(byte_errors(b"version: 1\n"), "ok");
}

#[test]
fn thousands_of_bad_items_are_one_line_and_quick() {
    // Over the path limit: one line, not one per relative path.
    let paths = vec!["r"; 4000].join(", ");
    let yaml = format!("version: 1\nfilesystem_policy:\n  read_only: [{paths}]\n");
    let t = std::time::Instant::now();
    assert_eq!(
        errors(&yaml),
        "p.yaml:3:3: filesystem_policy: too many filesystem paths (4000 > 256)"
    );
    // Endpoints of one policy are bounded like the policies.
    let mut yaml = String::from("version: 1\nnetwork_policies:\n  p:\n    endpoints:\n");
    for _ in 0..1025 {
        yaml.push_str("      - {host: h.example.com, port: 443}\n");
    }
    assert_eq!(
        errors(&yaml),
        "p.yaml:5:7: network_policies.p.endpoints: too many endpoints (1025 > 1024)"
    );
    // A name longer than any syscall's gets no suggestion search.
    let name = "a".repeat(200_000);
    let yaml = format!("version: 1\nseccomp:\n  allow: [{name}]\n");
    assert!(errors(&yaml).ends_with(&format!("unknown syscall \"{name}\"")));
    // Generous bound for a slow debug build; each was seconds to minutes.
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}

#[test]
fn lone_carriage_returns_break_lines_for_directives_and_bytes() {
    let yaml = "# p\r%YAML 1.1\r---\rversion: 1\r";
    assert_eq!(
        errors(yaml),
        "p.yaml:2:1: %YAML 1.1: this reader applies YAML 1.2 (where 0755 is decimal and only true/false are booleans); write %YAML 1.2 or remove the directive"
    );
    assert_eq!(errors("%YAML 1.2\r---\rversion: 1\r"), "ok");
    assert_eq!(
        byte_errors(b"version: 1\r# a\r#\xc3\xa9\xff\r"),
        "p.yaml:3:3: file is not valid UTF-8 (byte 18)"
    );
    assert_eq!(
        byte_errors(b"version: 1\r\n# a\r\n#\xc3\xa9\xff\r\n"),
        "p.yaml:3:3: file is not valid UTF-8 (byte 20)"
    );
}
