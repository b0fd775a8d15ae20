//! `format: vpc_flow` — Amazon VPC Flow Logs records (text delivery).
//!
//! A record is one line of whitespace-separated fields whose order is *not*
//! fixed: the default format is the 14 version-2 fields, but a flow log can use
//! any subset of the fields of versions 2–8 (and whatever AWS adds next) in any
//! order (`shared/formats/vpc-flow-log.md`). So every line is mapped through a
//! schema, chosen per event:
//!
//! 1. the header line of the S3 object the event came from
//!    (`event.meta.header`, set by inputs), when it is one — it is the truth
//!    about its own file;
//! 2. else the `fields` option (CloudWatch Logs and Firehose deliveries carry
//!    no header; the order is what the flow log was created with);
//! 3. else the default version-2 format.
//!
//! A line that is itself a header (its words are field names) yields no
//! record. `-` means "no value" in any column and is left out; NODATA and
//! SKIPDATA records are kept (their `log_status` says which) and marked with
//! `event.outcome: unknown`. Unknown field names are accepted and kept as
//! strings under `aws.vpcflow.<name>`.
//!
//! # Output
//!
//! Every field of the record is written under `aws.vpcflow.*` with `_` for `-`
//! in its name (Filebeat's names), typed: numbers as integers, addresses
//! checked to be IP addresses (they are indexed as `ip`). The ECS fields are
//! derived as Filebeat's `parse_aws_vpc_flow_log` processor derives them:
//!
//! | field | ECS |
//! |---|---|
//! | `srcaddr`, `dstaddr` | `source.address`/`source.ip`, `destination.address`/`destination.ip`, `network.type` |
//! | `srcport`, `dstport` | `source.port`, `destination.port` |
//! | `protocol` | `network.iana_number`, `network.transport` (IANA keyword, lower case) |
//! | `packets`, `bytes` | `source.packets`/`network.packets`, `source.bytes`/`network.bytes` |
//! | `start`, `end` | `event.start`, `event.end`; `@timestamp` is `start` |
//! | `action` | `event.action` (`accept`/`reject`), `event.outcome` (`success`/`failure`), `event.type` (`connection` + `allowed`/`denied`) |
//! | `account-id`, `instance-id`, `region`, `az-id` | `cloud.account.id`, `cloud.instance.id`, `cloud.region`, `cloud.availability_zone` |
//! | `flow-direction` | `network.direction` |
//! | `reject-reason` | `event.reason` |
//! | `ecs-*` | `orchestrator.*`, `container.id`, `service.name` |
//! | `tcp-flags` | `aws.vpcflow.tcp_flags_array` (`fin`, `syn`, `rst`, `psh`, `ack`, `urg`) |
//! | all addresses | `related.ip` |
//!
//! The `mode` option chooses between both (`ecs_and_original`, the default),
//! only the ECS fields plus the originals that have no ECS equivalent
//! (`ecs`, Filebeat's processor default) and only `aws.vpcflow.*`
//! (`original`).

use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::LazyLock;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{ParseError, Parsed, Parser};
use crate::event::{Event, Fields, Value};

/// Which fields a record produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// ECS fields, and `aws.vpcflow.*` for the fields without an ECS equivalent.
    Ecs,
    /// Only `aws.vpcflow.*`.
    Original,
    /// ECS fields and every field under `aws.vpcflow.*`.
    #[default]
    EcsAndOriginal,
}

/// Options of `format: vpc_flow`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcFlowOptions {
    /// The field order of records without a header line, as in the flow
    /// log's `LogFormat`: `"version account-id interface-id …"` (`${…}`
    /// around names and `_` for `-` are accepted too).
    #[serde(default)]
    pub fields: Option<FieldList>,
    #[serde(default)]
    pub mode: Mode,
}

/// A checked `fields` option: known or unknown names, none twice.
#[derive(Debug, Clone)]
pub struct FieldList(Schema);

impl<'de> serde::Deserialize<'de> for FieldList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schema::from_config(&text)
            .map(FieldList)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses VPC flow log records.
#[derive(Debug)]
pub struct VpcFlowParser {
    /// The schema of records without a header (configured, or the default).
    schema: Schema,
    mode: Mode,
}

impl VpcFlowParser {
    pub fn new(options: VpcFlowOptions) -> Self {
        VpcFlowParser {
            schema: options
                .fields
                .map_or_else(|| DEFAULT_SCHEMA.clone(), |f| f.0),
            mode: options.mode,
        }
    }
}

impl Default for VpcFlowParser {
    fn default() -> Self {
        VpcFlowParser::new(VpcFlowOptions::default())
    }
}

impl Parser for VpcFlowParser {
    fn parse(
        &self,
        input: &Bytes,
        event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let line = trim_end(input);
        if line.is_empty() {
            return Err(ParseError::new(
                "empty record: expected a VPC flow log line",
            ));
        }
        if is_header(line) {
            return Ok(());
        }
        let from_header = event.meta.header.as_ref().and_then(header_schema);
        let schema = from_header.as_deref().unwrap_or(&self.schema);
        out.push(parse_record(input, line.len(), schema, self.mode)?);
        Ok(())
    }
}

/// The type a field's text is checked and converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Ip,
    Str,
}

/// What a field means for the ECS mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    AccountId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    InstanceId,
    TcpFlags,
    PktSrcAddr,
    PktDstAddr,
    Region,
    AzId,
    FlowDirection,
    EcsClusterArn,
    EcsClusterName,
    EcsContainerInstanceArn,
    EcsContainerInstanceId,
    EcsContainerId,
    EcsServiceName,
    RejectReason,
    /// No ECS equivalent: kept under `aws.vpcflow` in every mode.
    Plain,
    /// A repeated name in a header line: ignored (the first one counts).
    Skip,
}

impl Role {
    /// Whether `ecs` mode drops the original field (an ECS field holds it).
    fn mapped_to_ecs(self) -> bool {
        !matches!(
            self,
            Role::Plain | Role::Skip | Role::LogStatus | Role::TcpFlags | Role::PktSrcAddr | Role::PktDstAddr
        )
    }
}

/// A field AWS documents: its name in formats and headers, its output key,
/// type and meaning.
struct Known {
    name: &'static str,
    key: &'static str,
    kind: Kind,
    role: Role,
}

const fn k(name: &'static str, key: &'static str, kind: Kind, role: Role) -> Known {
    Known {
        name,
        key,
        kind,
        role,
    }
}

/// Every documented field: versions 2–5, the Transit Gateway fields (6), the
/// ECS fields (7) and `reject-reason` (8). Newer ones are read as strings.
const KNOWN: &[Known] = &[
    k("version", "version", Kind::Int, Role::Plain),
    k("account-id", "account_id", Kind::Str, Role::AccountId),
    k("interface-id", "interface_id", Kind::Str, Role::Plain),
    k("srcaddr", "srcaddr", Kind::Ip, Role::SrcAddr),
    k("dstaddr", "dstaddr", Kind::Ip, Role::DstAddr),
    k("srcport", "srcport", Kind::Int, Role::SrcPort),
    k("dstport", "dstport", Kind::Int, Role::DstPort),
    k("protocol", "protocol", Kind::Int, Role::Protocol),
    k("packets", "packets", Kind::Int, Role::Packets),
    k("bytes", "bytes", Kind::Int, Role::Bytes),
    k("start", "start", Kind::Int, Role::Start),
    k("end", "end", Kind::Int, Role::End),
    k("action", "action", Kind::Str, Role::Action),
    k("log-status", "log_status", Kind::Str, Role::LogStatus),
    k("vpc-id", "vpc_id", Kind::Str, Role::Plain),
    k("subnet-id", "subnet_id", Kind::Str, Role::Plain),
    k("instance-id", "instance_id", Kind::Str, Role::InstanceId),
    k("tcp-flags", "tcp_flags", Kind::Int, Role::TcpFlags),
    k("type", "type", Kind::Str, Role::Plain),
    k("pkt-srcaddr", "pkt_srcaddr", Kind::Ip, Role::PktSrcAddr),
    k("pkt-dstaddr", "pkt_dstaddr", Kind::Ip, Role::PktDstAddr),
    k("region", "region", Kind::Str, Role::Region),
    k("az-id", "az_id", Kind::Str, Role::AzId),
    k("sublocation-type", "sublocation_type", Kind::Str, Role::Plain),
    k("sublocation-id", "sublocation_id", Kind::Str, Role::Plain),
    k("pkt-src-aws-service", "pkt_src_aws_service", Kind::Str, Role::Plain),
    k("pkt-dst-aws-service", "pkt_dst_aws_service", Kind::Str, Role::Plain),
    k("flow-direction", "flow_direction", Kind::Str, Role::FlowDirection),
    k("traffic-path", "traffic_path", Kind::Int, Role::Plain),
    k("resource-type", "resource_type", Kind::Str, Role::Plain),
    k("tgw-id", "tgw_id", Kind::Str, Role::Plain),
    k("tgw-attachment-id", "tgw_attachment_id", Kind::Str, Role::Plain),
    k("tgw-src-vpc-account-id", "tgw_src_vpc_account_id", Kind::Str, Role::Plain),
    k("tgw-dst-vpc-account-id", "tgw_dst_vpc_account_id", Kind::Str, Role::Plain),
    k("tgw-src-vpc-id", "tgw_src_vpc_id", Kind::Str, Role::Plain),
    k("tgw-dst-vpc-id", "tgw_dst_vpc_id", Kind::Str, Role::Plain),
    k("tgw-src-subnet-id", "tgw_src_subnet_id", Kind::Str, Role::Plain),
    k("tgw-dst-subnet-id", "tgw_dst_subnet_id", Kind::Str, Role::Plain),
    k("tgw-src-eni", "tgw_src_eni", Kind::Str, Role::Plain),
    k("tgw-dst-eni", "tgw_dst_eni", Kind::Str, Role::Plain),
    k("tgw-src-az-id", "tgw_src_az_id", Kind::Str, Role::Plain),
    k("tgw-dst-az-id", "tgw_dst_az_id", Kind::Str, Role::Plain),
    k("tgw-pair-attachment-id", "tgw_pair_attachment_id", Kind::Str, Role::Plain),
    k("packets-lost-no-route", "packets_lost_no_route", Kind::Int, Role::Plain),
    k("packets-lost-blackhole", "packets_lost_blackhole", Kind::Int, Role::Plain),
    k("packets-lost-mtu-exceeded", "packets_lost_mtu_exceeded", Kind::Int, Role::Plain),
    k("packets-lost-ttl-expired", "packets_lost_ttl_expired", Kind::Int, Role::Plain),
    k("ecs-cluster-arn", "ecs_cluster_arn", Kind::Str, Role::EcsClusterArn),
    k("ecs-cluster-name", "ecs_cluster_name", Kind::Str, Role::EcsClusterName),
    k("ecs-container-instance-arn", "ecs_container_instance_arn", Kind::Str, Role::EcsContainerInstanceArn),
    k("ecs-container-instance-id", "ecs_container_instance_id", Kind::Str, Role::EcsContainerInstanceId),
    k("ecs-container-id", "ecs_container_id", Kind::Str, Role::EcsContainerId),
    k("ecs-second-container-id", "ecs_second_container_id", Kind::Str, Role::Plain),
    k("ecs-service-name", "ecs_service_name", Kind::Str, Role::EcsServiceName),
    k("ecs-task-definition-arn", "ecs_task_definition_arn", Kind::Str, Role::Plain),
    k("ecs-task-arn", "ecs_task_arn", Kind::Str, Role::Plain),
    k("ecs-task-id", "ecs_task_id", Kind::Str, Role::Plain),
    k("reject-reason", "reject_reason", Kind::Str, Role::RejectReason),
];

/// The default format: the version-2 fields in their fixed order.
const DEFAULT_FORMAT: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

static DEFAULT_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let mut schema = Schema::from_config(DEFAULT_FORMAT).unwrap_or_else(|_| Schema::empty());
    schema.source = Source::Default;
    schema
});

/// Looks a field name up, accepting `_` for `-` and any case.
fn known(name: &[u8]) -> Option<&'static Known> {
    KNOWN.iter().find(|f| {
        f.name.len() == name.len()
            && f.name
                .bytes()
                .zip(name)
                .all(|(a, &b)| a == if b == b'_' { b'-' } else { b.to_ascii_lowercase() })
    })
}

/// One column of a schema.
#[derive(Debug, Clone)]
struct Column {
    /// The name as written in the format or header, for error messages.
    name: Box<str>,
    /// The output key under `aws.vpcflow` (static for known fields).
    key: Bytes,
    kind: Kind,
    role: Role,
}

/// Where a schema came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Default,
    Config,
    Header,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "the default version 2 format",
            Source::Config => "the `fields` option",
            Source::Header => "the file's header line",
        })
    }
}

/// The field order records are read with.
#[derive(Debug, Clone)]
struct Schema {
    columns: Vec<Column>,
    source: Source,
}

impl Schema {
    fn empty() -> Schema {
        Schema {
            columns: Vec::new(),
            source: Source::Default,
        }
    }

    /// The column for a field name (`${…}` already removed).
    fn column(name: &str) -> Column {
        match known(name.as_bytes()) {
            Some(f) => Column {
                name: name.into(),
                key: Bytes::from_static(f.key.as_bytes()),
                kind: f.kind,
                role: f.role,
            },
            None => Column {
                name: name.into(),
                key: Bytes::from(name.to_ascii_lowercase().replace('-', "_")),
                kind: Kind::Str,
                role: Role::Plain,
            },
        }
    }

    /// A schema from the `fields` option; names are checked, repeats refused.
    fn from_config(text: &str) -> Result<Schema, String> {
        let mut columns: Vec<Column> = Vec::new();
        for word in text.split_ascii_whitespace() {
            let name = word
                .strip_prefix("${")
                .and_then(|w| w.strip_suffix('}'))
                .unwrap_or(word);
            if !is_field_name(name.as_bytes()) {
                return Err(format!(
                    "invalid field name `{word}` in `fields`: expected names such as `version account-id interface-id` (letters, digits, `-`, `_`)"
                ));
            }
            let column = Schema::column(name);
            if columns.iter().any(|c| c.key == column.key) {
                return Err(format!("field `{name}` is listed twice in `fields`"));
            }
            columns.push(column);
        }
        if columns.is_empty() {
            return Err("`fields` names no field: expected a list such as `version account-id interface-id …`".to_owned());
        }
        Ok(Schema {
            columns,
            source: Source::Config,
        })
    }

    /// A schema from a header line, or `None` when the line is not a header.
    fn from_header(line: &[u8]) -> Option<Schema> {
        if !is_header(line) {
            return None;
        }
        let mut columns: Vec<Column> = Vec::new();
        for word in line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            let name = std::str::from_utf8(strip_braces(word)).ok()?;
            let mut column = Schema::column(name);
            if columns.iter().any(|c| c.key == column.key) {
                column.role = Role::Skip;
            }
            columns.push(column);
        }
        Some(Schema {
            columns,
            source: Source::Header,
        })
    }
}

fn strip_braces(word: &[u8]) -> &[u8] {
    word.strip_prefix(b"${")
        .and_then(|w| w.strip_suffix(b"}"))
        .unwrap_or(word)
}

/// `[A-Za-z][A-Za-z0-9_-]*`: the shape of a flow log field name.
fn is_field_name(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a line is a header: every word is shaped like a lower-case field
/// name and at least one is a documented one. Values never look like that
/// (numbers, addresses, `eni-…` ids next to no field name, upper-case
/// `ACCEPT`/`OK`/`IPv4`), so a record is never taken for a header; unknown
/// names in a real header do not stop it being recognised.
fn is_header(line: &[u8]) -> bool {
    // The fast path for records: they start with a number (the version), an
    // address or `-`, which no field name does.
    match line.first() {
        Some(b) if b.is_ascii_lowercase() || *b == b'$' => {}
        _ => return false,
    }
    let mut any_known = false;
    for word in line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
    {
        let name = strip_braces(word);
        if !(name.first().is_some_and(u8::is_ascii_lowercase)
            && name
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'))
        {
            return false;
        }
        any_known = any_known || known(name).is_some();
    }
    any_known
}

thread_local! {
    /// Schemas of recently seen header lines: one S3 object's events all carry
    /// the same header, so parsing it once per object and thread is enough.
    /// Keys are copies, so the cache never keeps an input buffer alive.
    static HEADERS: RefCell<Vec<(Bytes, Option<Rc<Schema>>)>> = const { RefCell::new(Vec::new()) };
}

/// How many distinct headers each thread remembers.
const HEADER_CACHE: usize = 16;

/// The schema of `header`, when it is a header line.
fn header_schema(header: &Bytes) -> Option<Rc<Schema>> {
    let header = trim_end(header);
    HEADERS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some(i) = cache.iter().position(|(h, _)| h.as_ref() == header) {
            return cache[i].1.clone();
        }
        let schema = Schema::from_header(header).map(Rc::new);
        if cache.len() >= HEADER_CACHE {
            cache.remove(0);
        }
        cache.push((Bytes::copy_from_slice(header), schema.clone()));
        schema
    })
}

fn trim_end(input: &[u8]) -> &[u8] {
    let mut end = input.len();
    while end > 0 && matches!(input[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &input[..end]
}

/// The next whitespace-separated word of `line` from `*pos`.
#[inline]
fn next_word(line: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let mut i = *pos;
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    if i == line.len() {
        *pos = i;
        return None;
    }
    let start = i;
    while i < line.len() && line[i] != b' ' && line[i] != b'\t' {
        i += 1;
    }
    *pos = i;
    Some((start, i))
}

/// The values the ECS mapping needs, collected while the columns are read.
#[derive(Default)]
struct Ecs {
    account_id: Option<Bytes>,
    src: Option<(Bytes, bool)>,
    dst: Option<Bytes>,
    src_port: Option<i64>,
    dst_port: Option<i64>,
    protocol: Option<(Bytes, i64)>,
    packets: Option<i64>,
    bytes: Option<i64>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    accept: Option<bool>,
    action: Option<Bytes>,
    no_data: bool,
    instance_id: Option<Bytes>,
    pkt_src: Option<Bytes>,
    pkt_dst: Option<Bytes>,
    region: Option<Bytes>,
    az_id: Option<Bytes>,
    direction: Option<Bytes>,
    cluster_arn: Option<Bytes>,
    cluster_name: Option<Bytes>,
    container_instance_arn: Option<Bytes>,
    container_instance_id: Option<Bytes>,
    container_id: Option<Bytes>,
    service_name: Option<Bytes>,
    reject_reason: Option<Bytes>,
}

/// Reads one record through `schema`. `line_len` is the input's length
/// without its line terminator.
fn parse_record(
    input: &Bytes,
    line_len: usize,
    schema: &Schema,
    mode: Mode,
) -> Result<Parsed, ParseError> {
    let line = &input[..line_len];
    let keep_all = mode != Mode::Ecs;
    let with_ecs = mode != Mode::Original;
    let mut original = Fields::with_capacity(schema.columns.len() + 1);
    let mut ecs = Ecs::default();
    let mut pos = 0;
    for (i, col) in schema.columns.iter().enumerate() {
        let Some((start, end)) = next_word(line, &mut pos) else {
            return Err(count_error(schema, line));
        };
        let text = &line[start..end];
        if text == b"-" || col.role == Role::Skip {
            continue;
        }
        let field_error = |expected: &str| {
            ParseError::new(format!(
                "field {} ({}): expected {expected} or `-`, found `{}`",
                i + 1,
                col.name,
                show(text)
            ))
        };
        let value = match col.kind {
            Kind::Int => Value::Int(parse_u63(text).ok_or_else(|| field_error("a number"))?),
            Kind::Ip => {
                let v4 = ip_version(text).ok_or_else(|| field_error("an IP address"))?;
                if col.role == Role::SrcAddr {
                    ecs.src = Some((input.slice(start..end), v4));
                }
                Value::Str(input.slice(start..end))
            }
            Kind::Str => Value::Str(input.slice(start..end)),
        };
        if with_ecs {
            let s = || input.slice(start..end);
            let n = || match value {
                Value::Int(n) => Some(n),
                _ => None,
            };
            match col.role {
                Role::AccountId => ecs.account_id = Some(s()),
                Role::DstAddr => ecs.dst = Some(s()),
                Role::SrcPort => ecs.src_port = n(),
                Role::DstPort => ecs.dst_port = n(),
                Role::Protocol => ecs.protocol = n().map(|p| (s(), p)),
                Role::Packets => ecs.packets = n(),
                Role::Bytes => ecs.bytes = n(),
                Role::Start | Role::End => {
                    let t = n()
                        .and_then(|secs| DateTime::from_timestamp(secs, 0))
                        .ok_or_else(|| field_error("a Unix time in seconds"))?;
                    if col.role == Role::Start {
                        ecs.start = Some(t);
                    } else {
                        ecs.end = Some(t);
                    }
                }
                Role::Action => {
                    ecs.accept = match text {
                        b"ACCEPT" => Some(true),
                        b"REJECT" => Some(false),
                        _ => None,
                    };
                    ecs.action = Some(s());
                }
                Role::LogStatus => ecs.no_data = text == b"NODATA" || text == b"SKIPDATA",
                Role::InstanceId => ecs.instance_id = Some(s()),
                Role::PktSrcAddr => ecs.pkt_src = Some(s()),
                Role::PktDstAddr => ecs.pkt_dst = Some(s()),
                Role::Region => ecs.region = Some(s()),
                Role::AzId => ecs.az_id = Some(s()),
                Role::FlowDirection => ecs.direction = Some(s()),
                Role::EcsClusterArn => ecs.cluster_arn = Some(s()),
                Role::EcsClusterName => ecs.cluster_name = Some(s()),
                Role::EcsContainerInstanceArn => ecs.container_instance_arn = Some(s()),
                Role::EcsContainerInstanceId => ecs.container_instance_id = Some(s()),
                Role::EcsContainerId => ecs.container_id = Some(s()),
                Role::EcsServiceName => ecs.service_name = Some(s()),
                Role::RejectReason => ecs.reject_reason = Some(s()),
                Role::SrcAddr | Role::TcpFlags | Role::Plain | Role::Skip => {}
            }
        } else if matches!(col.role, Role::Start) {
            // `@timestamp` comes from `start` in every mode.
            ecs.start = parse_u63(text).and_then(|secs| DateTime::from_timestamp(secs, 0));
        }
        if keep_all || !col.role.mapped_to_ecs() {
            let flags = match (col.role, &value) {
                (Role::TcpFlags, Value::Int(bits)) => Some(tcp_flags(*bits)),
                _ => None,
            };
            original.push_unchecked(col.key.clone(), value);
            if let Some(flags) = flags {
                original.push_unchecked(&b"tcp_flags_array"[..], flags);
            }
        }
    }
    if next_word(line, &mut pos).is_some() {
        return Err(count_error(schema, line));
    }

    let timestamp = ecs.start;
    let mut out = Fields::with_capacity(10);
    if !original.is_empty() {
        let mut aws = Fields::with_capacity(1);
        put(&mut aws, "vpcflow", Value::Object(original));
        put(&mut out, "aws", Value::Object(aws));
    }
    if with_ecs {
        ecs.write(&mut out);
    }
    Ok(Parsed {
        value: Value::Object(out),
        timestamp,
        message: None,
    })
}

#[inline]
fn put(fields: &mut Fields, key: &'static str, value: Value) {
    fields.push_unchecked(key.as_bytes(), value);
}

#[inline]
fn put_str(fields: &mut Fields, key: &'static str, value: Option<Bytes>) {
    if let Some(v) = value {
        put(fields, key, Value::Str(v));
    }
}

#[inline]
fn put_int(fields: &mut Fields, key: &'static str, value: Option<i64>) {
    if let Some(v) = value {
        put(fields, key, Value::Int(v));
    }
}

#[inline]
fn put_object(fields: &mut Fields, key: &'static str, object: Fields) {
    if !object.is_empty() {
        put(fields, key, Value::Object(object));
    }
}

fn stat(s: &'static str) -> Value {
    Value::Str(Bytes::from_static(s.as_bytes()))
}

impl Ecs {
    /// Appends the ECS objects to `out`.
    fn write(self, out: &mut Fields) {
        let mut cloud = Fields::with_capacity(5);
        put(&mut cloud, "provider", stat("aws"));
        if let Some(id) = self.account_id {
            let mut account = Fields::with_capacity(1);
            put(&mut account, "id", Value::Str(id));
            put(&mut cloud, "account", Value::Object(account));
        }
        if let Some(id) = self.instance_id {
            let mut instance = Fields::with_capacity(1);
            put(&mut instance, "id", Value::Str(id));
            put(&mut cloud, "instance", Value::Object(instance));
        }
        put_str(&mut cloud, "region", self.region);
        put_str(&mut cloud, "availability_zone", self.az_id);
        put(out, "cloud", Value::Object(cloud));

        let mut related = Vec::new();
        let mut source = Fields::with_capacity(5);
        let network_type = self.src.as_ref().map(|(_, v4)| *v4);
        if let Some((addr, _)) = self.src {
            put(&mut source, "address", Value::Str(addr.clone()));
            put(&mut source, "ip", Value::Str(addr.clone()));
            related.push(Value::Str(addr));
        }
        put_int(&mut source, "port", self.src_port);
        put_int(&mut source, "bytes", self.bytes);
        put_int(&mut source, "packets", self.packets);
        put_object(out, "source", source);

        let mut destination = Fields::with_capacity(3);
        if let Some(addr) = self.dst {
            put(&mut destination, "address", Value::Str(addr.clone()));
            put(&mut destination, "ip", Value::Str(addr.clone()));
            push_unique(&mut related, addr);
        }
        put_int(&mut destination, "port", self.dst_port);
        put_object(out, "destination", destination);
        for addr in [self.pkt_src, self.pkt_dst].into_iter().flatten() {
            push_unique(&mut related, addr);
        }

        let mut network = Fields::with_capacity(6);
        if let Some(v4) = network_type {
            put(&mut network, "type", stat(if v4 { "ipv4" } else { "ipv6" }));
        }
        if let Some((text, number)) = self.protocol {
            put(&mut network, "iana_number", Value::Str(text));
            if let Some(name) = protocol_name(number) {
                put(&mut network, "transport", stat(name));
            }
        }
        put_int(&mut network, "bytes", self.bytes);
        put_int(&mut network, "packets", self.packets);
        put_str(&mut network, "direction", self.direction);
        put_object(out, "network", network);

        let mut event = Fields::with_capacity(7);
        match self.accept {
            Some(accept) => {
                put(&mut event, "action", stat(if accept { "accept" } else { "reject" }));
                put(&mut event, "outcome", stat(if accept { "success" } else { "failure" }));
                let kind = stat(if accept { "allowed" } else { "denied" });
                put(&mut event, "type", Value::Array(vec![stat("connection"), kind]));
            }
            None => {
                if let Some(action) = self.action {
                    put(&mut event, "action", Value::Str(Bytes::from(action.to_ascii_lowercase())));
                }
                if self.no_data {
                    // NODATA / SKIPDATA: no traffic (or lost records) in the
                    // interval; kept, and marked as neither allowed nor denied.
                    put(&mut event, "outcome", stat("unknown"));
                } else {
                    put(&mut event, "type", Value::Array(vec![stat("connection")]));
                }
            }
        }
        if let Some(t) = self.start {
            put(&mut event, "start", Value::Timestamp(t));
        }
        if let Some(t) = self.end {
            put(&mut event, "end", Value::Timestamp(t));
        }
        put_str(&mut event, "reason", self.reject_reason);
        put_object(out, "event", event);

        let mut orchestrator = Fields::new();
        {
            let mut cluster = Fields::new();
            put_str(&mut cluster, "id", self.cluster_arn);
            let has_name = self.cluster_name.is_some();
            put_str(&mut cluster, "name", self.cluster_name);
            put_object(&mut orchestrator, "cluster", cluster);
            if has_name {
                put(&mut orchestrator, "type", stat("ecs"));
            }
            let mut resource = Fields::new();
            if let Some(arn) = self.container_instance_arn {
                put(&mut resource, "name", Value::Str(arn));
                put(&mut resource, "type", stat("container"));
            }
            put_str(&mut resource, "id", self.container_instance_id);
            put_object(&mut orchestrator, "resource", resource);
        }
        put_object(out, "orchestrator", orchestrator);
        if let Some(id) = self.container_id {
            let mut container = Fields::with_capacity(1);
            put(&mut container, "id", Value::Str(id));
            put(out, "container", Value::Object(container));
        }
        if let Some(name) = self.service_name {
            let mut service = Fields::with_capacity(1);
            put(&mut service, "name", Value::Str(name));
            put(out, "service", Value::Object(service));
        }
        if !related.is_empty() {
            let mut rel = Fields::with_capacity(1);
            put(&mut rel, "ip", Value::Array(related));
            put(out, "related", Value::Object(rel));
        }
    }
}

fn push_unique(list: &mut Vec<Value>, addr: Bytes) {
    if !list.iter().any(|v| v.as_bytes() == Some(&addr[..])) {
        list.push(Value::Str(addr));
    }
}

fn count_error(schema: &Schema, line: &[u8]) -> ParseError {
    let found = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
        .count();
    ParseError::new(format!(
        "expected {} fields ({}), found {found}",
        schema.columns.len(),
        schema.source
    ))
}

/// The decoded `tcp-flags` bits. VPC flow logs report FIN, SYN, RST and
/// SYN-ACK; Transit Gateway flow logs also PSH, ACK and URG.
fn tcp_flags(bits: i64) -> Value {
    const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
    let flags = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, name)| stat(name))
        .collect();
    Value::Array(flags)
}

/// A decimal integer that fits an `i64`.
fn parse_u63(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(n)
}

/// `Some(true)` for an IPv4 address, `Some(false)` for IPv6, `None` otherwise.
fn ip_version(s: &[u8]) -> Option<bool> {
    let ip: IpAddr = std::str::from_utf8(s).ok()?.parse().ok()?;
    Some(ip.is_ipv4())
}

/// Input shown in an error message: lossy UTF-8, cut after 40 characters.
fn show(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}

/// The IANA keyword of an IP protocol number, in lower case as ECS's
/// `network.transport` wants it; `None` for numbers without one (unassigned,
/// experimental, reserved).
fn protocol_name(number: i64) -> Option<&'static str> {
    let name = *usize::try_from(number).ok().and_then(|i| PROTOCOLS.get(i))?;
    (!name.is_empty()).then_some(name)
}

/// IANA "Assigned Internet Protocol Numbers", keyword column, lower case.
/// Empty: no keyword (61, 63, 68, 99, 114 are "any …" placeholders; 145–252
/// unassigned; 253–254 experimentation; 255 reserved).
#[rustfmt::skip]
const PROTOCOLS: [&str; 256] = {
    let mut t = [""; 256];
    let named: [(usize, &str); 140] = [
        (0, "hopopt"), (1, "icmp"), (2, "igmp"), (3, "ggp"), (4, "ipv4"), (5, "st"), (6, "tcp"),
        (7, "cbt"), (8, "egp"), (9, "igp"), (10, "bbn-rcc-mon"), (11, "nvp-ii"), (12, "pup"),
        (13, "argus"), (14, "emcon"), (15, "xnet"), (16, "chaos"), (17, "udp"), (18, "mux"),
        (19, "dcn-meas"), (20, "hmp"), (21, "prm"), (22, "xns-idp"), (23, "trunk-1"),
        (24, "trunk-2"), (25, "leaf-1"), (26, "leaf-2"), (27, "rdp"), (28, "irtp"),
        (29, "iso-tp4"), (30, "netblt"), (31, "mfe-nsp"), (32, "merit-inp"), (33, "dccp"),
        (34, "3pc"), (35, "idpr"), (36, "xtp"), (37, "ddp"), (38, "idpr-cmtp"), (39, "tp++"),
        (40, "il"), (41, "ipv6"), (42, "sdrp"), (43, "ipv6-route"), (44, "ipv6-frag"),
        (45, "idrp"), (46, "rsvp"), (47, "gre"), (48, "dsr"), (49, "bna"), (50, "esp"),
        (51, "ah"), (52, "i-nlsp"), (53, "swipe"), (54, "narp"), (55, "min-ipv4"), (56, "tlsp"),
        (57, "skip"), (58, "ipv6-icmp"), (59, "ipv6-nonxt"), (60, "ipv6-opts"), (62, "cftp"),
        (64, "sat-expak"), (65, "kryptolan"), (66, "rvd"), (67, "ippc"), (69, "sat-mon"),
        (70, "visa"), (71, "ipcv"), (72, "cpnx"), (73, "cphb"), (74, "wsn"), (75, "pvp"),
        (76, "br-sat-mon"), (77, "sun-nd"), (78, "wb-mon"), (79, "wb-expak"), (80, "iso-ip"),
        (81, "vmtp"), (82, "secure-vmtp"), (83, "vines"), (84, "ttp"), (85, "nsfnet-igp"),
        (86, "dgp"), (87, "tcf"), (88, "eigrp"), (89, "ospfigp"), (90, "sprite-rpc"),
        (91, "larp"), (92, "mtp"), (93, "ax.25"), (94, "ipip"), (95, "micp"), (96, "scc-sp"),
        (97, "etherip"), (98, "encap"), (100, "gmtp"), (101, "ifmp"), (102, "pnni"),
        (103, "pim"), (104, "aris"), (105, "scps"), (106, "qnx"), (107, "a/n"), (108, "ipcomp"),
        (109, "snp"), (110, "compaq-peer"), (111, "ipx-in-ip"), (112, "vrrp"), (113, "pgm"),
        (115, "l2tp"), (116, "ddx"), (117, "iatp"), (118, "stp"), (119, "srp"), (120, "uti"),
        (121, "smp"), (122, "sm"), (123, "ptp"), (124, "isis over ipv4"), (125, "fire"),
        (126, "crtp"), (127, "crudp"), (128, "sscopmce"), (129, "iplt"), (130, "sps"),
        (131, "pipe"), (132, "sctp"), (133, "fc"), (134, "rsvp-e2e-ignore"),
        (135, "mobility header"), (136, "udplite"), (137, "mpls-in-ip"), (138, "manet"),
        (139, "hip"), (140, "shim6"), (141, "wesp"), (142, "rohc"), (143, "ethernet"),
        (144, "aggfrag"),
    ];
    let mut i = 0;
    while i < named.len() {
        t[named[i].0] = named[i].1;
        i += 1;
    }
    t
};
