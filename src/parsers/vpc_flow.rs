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

use super::doc::{is_ipv4, parse_u63};
use super::scan::find_below;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::{Arc, LazyLock, OnceLock};

use bytes::Bytes;
use chrono::DateTime;

use super::{ParseError, Parsed, Parser};
use crate::event::flat::{self, FlatDoc, Kind as NodeKind, Node, Slot};
use crate::event::{Event, Fields, Value};
use crate::node;

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
    fn parse(&self, input: &Bytes, event: &Event, out: &mut Vec<Parsed>) -> Result<(), ParseError> {
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
            Role::Plain
                | Role::Skip
                | Role::LogStatus
                | Role::TcpFlags
                | Role::PktSrcAddr
                | Role::PktDstAddr
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
    k(
        "sublocation-type",
        "sublocation_type",
        Kind::Str,
        Role::Plain,
    ),
    k("sublocation-id", "sublocation_id", Kind::Str, Role::Plain),
    k(
        "pkt-src-aws-service",
        "pkt_src_aws_service",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "pkt-dst-aws-service",
        "pkt_dst_aws_service",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "flow-direction",
        "flow_direction",
        Kind::Str,
        Role::FlowDirection,
    ),
    k("traffic-path", "traffic_path", Kind::Int, Role::Plain),
    k("resource-type", "resource_type", Kind::Str, Role::Plain),
    k("tgw-id", "tgw_id", Kind::Str, Role::Plain),
    k(
        "tgw-attachment-id",
        "tgw_attachment_id",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "tgw-src-vpc-account-id",
        "tgw_src_vpc_account_id",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "tgw-dst-vpc-account-id",
        "tgw_dst_vpc_account_id",
        Kind::Str,
        Role::Plain,
    ),
    k("tgw-src-vpc-id", "tgw_src_vpc_id", Kind::Str, Role::Plain),
    k("tgw-dst-vpc-id", "tgw_dst_vpc_id", Kind::Str, Role::Plain),
    k(
        "tgw-src-subnet-id",
        "tgw_src_subnet_id",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "tgw-dst-subnet-id",
        "tgw_dst_subnet_id",
        Kind::Str,
        Role::Plain,
    ),
    k("tgw-src-eni", "tgw_src_eni", Kind::Str, Role::Plain),
    k("tgw-dst-eni", "tgw_dst_eni", Kind::Str, Role::Plain),
    k("tgw-src-az-id", "tgw_src_az_id", Kind::Str, Role::Plain),
    k("tgw-dst-az-id", "tgw_dst_az_id", Kind::Str, Role::Plain),
    k(
        "tgw-pair-attachment-id",
        "tgw_pair_attachment_id",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "packets-lost-no-route",
        "packets_lost_no_route",
        Kind::Int,
        Role::Plain,
    ),
    k(
        "packets-lost-blackhole",
        "packets_lost_blackhole",
        Kind::Int,
        Role::Plain,
    ),
    k(
        "packets-lost-mtu-exceeded",
        "packets_lost_mtu_exceeded",
        Kind::Int,
        Role::Plain,
    ),
    k(
        "packets-lost-ttl-expired",
        "packets_lost_ttl_expired",
        Kind::Int,
        Role::Plain,
    ),
    k(
        "ecs-cluster-arn",
        "ecs_cluster_arn",
        Kind::Str,
        Role::EcsClusterArn,
    ),
    k(
        "ecs-cluster-name",
        "ecs_cluster_name",
        Kind::Str,
        Role::EcsClusterName,
    ),
    k(
        "ecs-container-instance-arn",
        "ecs_container_instance_arn",
        Kind::Str,
        Role::EcsContainerInstanceArn,
    ),
    k(
        "ecs-container-instance-id",
        "ecs_container_instance_id",
        Kind::Str,
        Role::EcsContainerInstanceId,
    ),
    k(
        "ecs-container-id",
        "ecs_container_id",
        Kind::Str,
        Role::EcsContainerId,
    ),
    k(
        "ecs-second-container-id",
        "ecs_second_container_id",
        Kind::Str,
        Role::Plain,
    ),
    k(
        "ecs-service-name",
        "ecs_service_name",
        Kind::Str,
        Role::EcsServiceName,
    ),
    k(
        "ecs-task-definition-arn",
        "ecs_task_definition_arn",
        Kind::Str,
        Role::Plain,
    ),
    k("ecs-task-arn", "ecs_task_arn", Kind::Str, Role::Plain),
    k("ecs-task-id", "ecs_task_id", Kind::Str, Role::Plain),
    k(
        "reject-reason",
        "reject_reason",
        Kind::Str,
        Role::RejectReason,
    ),
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
            && f.name.bytes().zip(name).all(|(a, &b)| {
                a == if b == b'_' {
                    b'-'
                } else {
                    b.to_ascii_lowercase()
                }
            })
    })
}

/// One column of a schema.
#[derive(Debug, Clone)]
struct Column {
    /// The name as written in the format or header, for error messages.
    name: Box<str>,
    /// The output key under `aws.vpcflow`: static for the fields AWS
    /// documents.
    key: Cow<'static, str>,
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
    /// The document layout for each [`Mode`], built on first use.
    documents: [OnceLock<Arc<flat::Schema>>; 3],
}

/// The most columns a format may have: slot numbers are `u16`, and no
/// flow log format comes near (AWS has fewer than 50 fields).
const MAX_COLUMNS: usize = 1024;

impl Schema {
    fn new(columns: Vec<Column>, source: Source) -> Schema {
        Schema {
            columns,
            source,
            documents: Default::default(),
        }
    }

    fn empty() -> Schema {
        Schema::new(Vec::new(), Source::Default)
    }

    /// The document layout of records read with this schema in `mode`.
    fn document(&self, mode: Mode) -> &Arc<flat::Schema> {
        let i = match mode {
            Mode::Ecs => 0,
            Mode::Original => 1,
            Mode::EcsAndOriginal => 2,
        };
        self.documents[i].get_or_init(|| Arc::new(document_schema(&self.columns, mode)))
    }

    /// The column for a field name (`${…}` already removed).
    fn column(name: &str) -> Column {
        match known(name.as_bytes()) {
            Some(f) => Column {
                name: name.into(),
                key: Cow::Borrowed(f.key),
                kind: f.kind,
                role: f.role,
            },
            None => Column {
                name: name.into(),
                key: Cow::Owned(name.to_ascii_lowercase().replace('-', "_")),
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
        if columns.len() > MAX_COLUMNS {
            return Err(format!(
                "`fields` names {} fields; flow log formats have at most {MAX_COLUMNS}",
                columns.len()
            ));
        }
        Ok(Schema::new(columns, Source::Config))
    }

    /// A schema from a header line, or `None` when the line is not a header.
    fn from_header(line: &[u8]) -> Option<Schema> {
        if !is_header(line) {
            return None;
        }
        let mut columns: Vec<Column> = Vec::new();
        for word in words(line) {
            let name = std::str::from_utf8(strip_braces(word)).ok()?;
            let mut column = Schema::column(name);
            if columns.iter().any(|c| c.key == column.key) {
                column.role = Role::Skip;
            }
            columns.push(column);
        }
        if columns.len() > MAX_COLUMNS {
            return None;
        }
        Some(Schema::new(columns, Source::Header))
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
    for word in words(line) {
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
    while end > 0 && is_blank(input[end - 1]) {
        end -= 1;
    }
    &input[..end]
}

/// Whether `b` separates fields: space, tab, or any other control byte
/// (one comparison; flow log values never hold control bytes).
#[inline]
fn is_blank(b: u8) -> bool {
    b <= b' '
}

/// The next blank-separated word of `line` from `*pos`.
#[inline]
fn next_word(line: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let rest = line.get(*pos..)?;
    let start = *pos + rest.iter().position(|&b| !is_blank(b))?;
    let end = find_below(line, start, b' ' + 1).unwrap_or(line.len());
    *pos = end;
    Some((start, end))
}

/// The blank-separated words of `line`.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_blank(b)).filter(|w| !w.is_empty())
}

/// The document's slots for the ECS fields; a record's own columns follow
/// them (column `i` is slot `COLUMNS + i`).
mod slot {
    pub const CLOUD_PROVIDER: u16 = 0;
    pub const ACCOUNT_ID: u16 = 1;
    pub const INSTANCE_ID: u16 = 2;
    pub const REGION: u16 = 3;
    pub const AZ_ID: u16 = 4;
    pub const SRC_ADDR: u16 = 5;
    pub const SRC_PORT: u16 = 6;
    pub const BYTES: u16 = 7;
    pub const PACKETS: u16 = 8;
    pub const DST_ADDR: u16 = 9;
    pub const DST_PORT: u16 = 10;
    pub const NETWORK_TYPE: u16 = 11;
    pub const IANA_NUMBER: u16 = 12;
    pub const TRANSPORT: u16 = 13;
    pub const DIRECTION: u16 = 14;
    pub const ACTION: u16 = 15;
    pub const OUTCOME: u16 = 16;
    pub const TYPE_CONNECTION: u16 = 17;
    pub const TYPE_VERDICT: u16 = 18;
    pub const START: u16 = 19;
    pub const END: u16 = 20;
    pub const REASON: u16 = 21;
    pub const CLUSTER_ARN: u16 = 22;
    pub const CLUSTER_NAME: u16 = 23;
    pub const ORCHESTRATOR_TYPE: u16 = 24;
    pub const RESOURCE_NAME: u16 = 25;
    pub const RESOURCE_TYPE: u16 = 26;
    pub const RESOURCE_ID: u16 = 27;
    pub const CONTAINER_ID: u16 = 28;
    pub const SERVICE_NAME: u16 = 29;
    /// `related.ip` after the source address: each address once.
    pub const RELATED_DST: u16 = 30;
    pub const RELATED_PKT_SRC: u16 = 31;
    pub const RELATED_PKT_DST: u16 = 32;
    /// `aws.vpcflow.tcp_flags_array`.
    pub const TCP_FLAGS_ARRAY: u16 = 33;
    /// The first column's slot.
    pub const COLUMNS: u16 = 34;
}

/// The ECS part of every document, derived as Filebeat's
/// `parse_aws_vpc_flow_log` processor derives it (see the module docs).
static ECS_NODES: [Node; 9] = {
    use slot::*;
    [
        node!(
            object "cloud",
            [
                node!(leaf "provider", CLOUD_PROVIDER),
                node!(object "account", [node!(leaf "id", ACCOUNT_ID)]),
                node!(object "instance", [node!(leaf "id", INSTANCE_ID)]),
                node!(leaf "region", REGION),
                node!(leaf "availability_zone", AZ_ID),
            ]
        ),
        node!(
            object "source",
            [
                node!(leaf "address", SRC_ADDR),
                node!(leaf "ip", SRC_ADDR),
                node!(leaf "port", SRC_PORT),
                node!(leaf "bytes", BYTES),
                node!(leaf "packets", PACKETS),
            ]
        ),
        node!(
            object "destination",
            [
                node!(leaf "address", DST_ADDR),
                node!(leaf "ip", DST_ADDR),
                node!(leaf "port", DST_PORT),
            ]
        ),
        node!(
            object "network",
            [
                node!(leaf "type", NETWORK_TYPE),
                node!(leaf "iana_number", IANA_NUMBER),
                node!(leaf "transport", TRANSPORT),
                node!(leaf "bytes", BYTES),
                node!(leaf "packets", PACKETS),
                node!(leaf "direction", DIRECTION),
            ]
        ),
        node!(
            object "event",
            [
                node!(leaf "action", ACTION),
                node!(leaf "outcome", OUTCOME),
                node!(array "type", [TYPE_CONNECTION, TYPE_VERDICT]),
                node!(leaf "start", START),
                node!(leaf "end", END),
                node!(leaf "reason", REASON),
            ]
        ),
        node!(
            object "orchestrator",
            [
                node!(
                    object "cluster",
                    [node!(leaf "id", CLUSTER_ARN), node!(leaf "name", CLUSTER_NAME)]
                ),
                node!(leaf "type", ORCHESTRATOR_TYPE),
                node!(
                    object "resource",
                    [
                        node!(leaf "name", RESOURCE_NAME),
                        node!(leaf "type", RESOURCE_TYPE),
                        node!(leaf "id", RESOURCE_ID),
                    ]
                ),
            ]
        ),
        node!(object "container", [node!(leaf "id", CONTAINER_ID)]),
        node!(object "service", [node!(leaf "name", SERVICE_NAME)]),
        node!(
            object "related",
            [node!(array "ip", [SRC_ADDR, RELATED_DST, RELATED_PKT_SRC, RELATED_PKT_DST])]
        ),
    ]
};

/// The document layout for `columns` in `mode`: `aws.vpcflow.*` in column
/// order (with `tcp_flags_array` after `tcp_flags`), then the ECS fields.
fn document_schema(columns: &[Column], mode: Mode) -> flat::Schema {
    let keep_all = mode != Mode::Ecs;
    let mut vpcflow = Vec::with_capacity(columns.len() + 1);
    for (i, col) in columns.iter().enumerate() {
        // `ecs` mode leaves out the originals an ECS field holds.
        let dropped = !keep_all && col.role.mapped_to_ecs();
        if col.role == Role::Skip || dropped {
            continue;
        }
        vpcflow.push(Node {
            key: col.key.clone(),
            kind: NodeKind::Leaf(column_slot(i)),
        });
        if col.role == Role::TcpFlags {
            vpcflow.push(node!(leaf "tcp_flags_array", slot::TCP_FLAGS_ARRAY));
        }
    }
    let mut root = vec![Node {
        key: Cow::Borrowed("aws"),
        kind: NodeKind::Object(Cow::Owned(vec![Node {
            key: Cow::Borrowed("vpcflow"),
            kind: NodeKind::Object(Cow::Owned(vpcflow)),
        }])),
    }];
    if mode != Mode::Original {
        root.extend(ECS_NODES.iter().cloned());
    }
    flat::Schema {
        root: Cow::Owned(root),
        slots: usize::from(slot::COLUMNS) + columns.len(),
    }
}

/// Column `i`'s slot; schemas have at most [`MAX_COLUMNS`] columns.
fn column_slot(i: usize) -> u16 {
    slot::COLUMNS.saturating_add(u16::try_from(i).unwrap_or(u16::MAX))
}

/// Reads one record through `schema`. `line_len` is the input's length
/// without its line terminator.
fn parse_record(
    input: &Bytes,
    line_len: usize,
    schema: &Schema,
    mode: Mode,
) -> Result<Parsed, ParseError> {
    use slot::*;
    let line = &input[..line_len];
    let with_ecs = mode != Mode::Original;
    let mut doc = FlatDoc::new(schema.document(mode).clone(), input.clone());
    let mut start_time = None;
    let mut end_time = None;
    let mut accept = None;
    let mut action = None;
    let mut no_data = false;
    let mut addresses: [Option<(usize, usize)>; 4] = [None; 4];
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
        let number = match col.kind {
            Kind::Int => {
                let n = parse_u63(text).ok_or_else(|| field_error("a number"))?;
                doc.set(column_slot(i), Slot::Int(n));
                Some(n)
            }
            Kind::Ip => {
                let v4 = ip_version(text).ok_or_else(|| field_error("an IP address"))?;
                doc.set_span(column_slot(i), start, end);
                if col.role == Role::SrcAddr && with_ecs {
                    doc.set(NETWORK_TYPE, Slot::Static(if v4 { "ipv4" } else { "ipv6" }));
                }
                None
            }
            Kind::Str => {
                doc.set_span(column_slot(i), start, end);
                None
            }
        };
        if col.role == Role::TcpFlags {
            if let Some(bits) = number {
                doc.set(TCP_FLAGS_ARRAY, Slot::List(tcp_flags(bits)));
            }
        }
        if with_ecs {
            let mut span = |slot: u16| doc.set_span(slot, start, end);
            match col.role {
                Role::AccountId => span(ACCOUNT_ID),
                Role::SrcAddr => addresses[0] = Some((start, end)),
                Role::DstAddr => addresses[1] = Some((start, end)),
                Role::PktSrcAddr => addresses[2] = Some((start, end)),
                Role::PktDstAddr => addresses[3] = Some((start, end)),
                Role::SrcPort => doc.set(SRC_PORT, number.map_or(Slot::Absent, Slot::Int)),
                Role::DstPort => doc.set(DST_PORT, number.map_or(Slot::Absent, Slot::Int)),
                Role::Protocol => {
                    span(IANA_NUMBER);
                    if let Some(name) = number.and_then(protocol_name) {
                        doc.set(TRANSPORT, Slot::Static(name));
                    }
                }
                Role::Packets => doc.set(PACKETS, number.map_or(Slot::Absent, Slot::Int)),
                Role::Bytes => doc.set(BYTES, number.map_or(Slot::Absent, Slot::Int)),
                Role::Start | Role::End => {
                    let t = number
                        .and_then(|secs| DateTime::from_timestamp(secs, 0))
                        .ok_or_else(|| field_error("a Unix time in seconds"))?;
                    if col.role == Role::Start {
                        start_time = Some(t);
                    } else {
                        end_time = Some(t);
                    }
                }
                Role::Action => {
                    accept = match text {
                        b"ACCEPT" => Some(true),
                        b"REJECT" => Some(false),
                        _ => None,
                    };
                    action = Some(text);
                }
                Role::LogStatus => no_data = text == b"NODATA" || text == b"SKIPDATA",
                Role::InstanceId => span(INSTANCE_ID),
                Role::Region => span(REGION),
                Role::AzId => span(AZ_ID),
                Role::FlowDirection => span(DIRECTION),
                Role::EcsClusterArn => span(CLUSTER_ARN),
                Role::EcsClusterName => {
                    span(CLUSTER_NAME);
                    doc.set(ORCHESTRATOR_TYPE, Slot::Static("ecs"));
                }
                Role::EcsContainerInstanceArn => {
                    span(RESOURCE_NAME);
                    doc.set(RESOURCE_TYPE, Slot::Static("container"));
                }
                Role::EcsContainerInstanceId => span(RESOURCE_ID),
                Role::EcsContainerId => span(CONTAINER_ID),
                Role::EcsServiceName => span(SERVICE_NAME),
                Role::RejectReason => span(REASON),
                Role::TcpFlags | Role::Plain | Role::Skip => {}
            }
        } else if matches!(col.role, Role::Start) {
            // `@timestamp` comes from `start` in every mode.
            start_time = parse_u63(text).and_then(|secs| DateTime::from_timestamp(secs, 0));
        }
    }
    if next_word(line, &mut pos).is_some() {
        return Err(count_error(schema, line));
    }
    if with_ecs {
        doc.set(CLOUD_PROVIDER, Slot::Static("aws"));
        // `source.*` and `related.ip` start with the source address; the
        // others join `related.ip` unless an earlier one is the same.
        let related = [
            SRC_ADDR,
            DST_ADDR,
            RELATED_DST,
            RELATED_PKT_SRC,
            RELATED_PKT_DST,
        ];
        if let Some((a, b)) = addresses[0] {
            doc.set_span(SRC_ADDR, a, b);
        }
        if let Some((a, b)) = addresses[1] {
            doc.set_span(DST_ADDR, a, b);
        }
        for (i, address) in addresses.iter().enumerate().skip(1) {
            let Some(&(a, b)) = address.as_ref() else {
                continue;
            };
            let text = &line[a..b];
            let seen = addresses[..i]
                .iter()
                .flatten()
                .any(|&(x, y)| &line[x..y] == text);
            if !seen {
                doc.set_span(related[i + 1], a, b);
            }
        }
        match accept {
            Some(accept) => {
                doc.set(
                    ACTION,
                    Slot::Static(if accept { "accept" } else { "reject" }),
                );
                doc.set(
                    OUTCOME,
                    Slot::Static(if accept { "success" } else { "failure" }),
                );
                doc.set(TYPE_CONNECTION, Slot::Static("connection"));
                doc.set(
                    TYPE_VERDICT,
                    Slot::Static(if accept { "allowed" } else { "denied" }),
                );
            }
            None => {
                if let Some(action) = action {
                    doc.set_owned(ACTION, Value::Str(Bytes::from(action.to_ascii_lowercase())));
                }
                if no_data {
                    // NODATA / SKIPDATA: no traffic (or lost records) in the
                    // interval; kept, and marked as neither allowed nor denied.
                    doc.set(OUTCOME, Slot::Static("unknown"));
                } else {
                    doc.set(TYPE_CONNECTION, Slot::Static("connection"));
                }
            }
        }
        if let Some(t) = start_time {
            doc.set(START, Slot::Timestamp(t));
        }
        if let Some(t) = end_time {
            doc.set(END, Slot::Timestamp(t));
        }
    }
    Ok(Parsed {
        value: Value::Object(Fields::from(doc)),
        timestamp: start_time,
        message: None,
    })
}

fn count_error(schema: &Schema, line: &[u8]) -> ParseError {
    let found = words(line).count();
    ParseError::new(format!(
        "expected {} fields ({}), found {found}",
        schema.columns.len(),
        schema.source
    ))
}

/// The decoded `tcp-flags` bits. VPC flow logs report FIN, SYN, RST and
/// SYN-ACK; Transit Gateway flow logs also PSH, ACK and URG.
fn tcp_flags(bits: i64) -> &'static [&'static str] {
    const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
    /// Every combination of the low eight bits, built once.
    static LISTS: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
        (0..256)
            .map(|bits| {
                NAMES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, name)| *name)
                    .collect()
            })
            .collect()
    });
    LISTS
        .get((bits & 0xff) as usize)
        .map_or(&[], |list| list.as_slice())
}

/// `Some(true)` for an IPv4 address, `Some(false)` for IPv6, `None` otherwise.
/// Dotted quads (nearly every record) are checked by hand; std's parser only
/// sees the rest.
fn ip_version(s: &[u8]) -> Option<bool> {
    if is_ipv4(s) {
        return Some(true);
    }
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
    let name = *usize::try_from(number)
        .ok()
        .and_then(|i| PROTOCOLS.get(i))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_node, yaml};
    use crate::event::Path;
    use proptest::prelude::*;

    const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    /// The S3 text file sample of `shared/formats/vpc-flow-log.md`, §7.
    const V2: [&str; 6] = [
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
        "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
        "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
        "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
    ];
    const V3_FORMAT: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status";
    const V3: [&str; 2] = [
        "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK",
        // Double space, exactly as in the AWS documentation.
        "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK",
    ];
    const V5_FORMAT: &str = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";
    const V5: [&str; 2] = [
        "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
        "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
    ];
    const NAT_FORMAT: &str = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr";
    const NAT: &str = "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5";

    fn parser(options: &str) -> VpcFlowParser {
        let node = yaml::parse(options).unwrap();
        VpcFlowParser::new(from_node(&node).unwrap())
    }

    fn event(header: Option<&str>) -> Event {
        let mut e = Event::from_text("");
        e.meta.header = header.map(|h| Bytes::copy_from_slice(h.as_bytes()));
        e
    }

    fn run(p: &VpcFlowParser, line: &str, header: Option<&str>) -> Result<Vec<Parsed>, ParseError> {
        let mut out = Vec::new();
        p.parse(
            &Bytes::copy_from_slice(line.as_bytes()),
            &event(header),
            &mut out,
        )?;
        Ok(out)
    }

    fn one(p: &VpcFlowParser, line: &str, header: Option<&str>) -> Parsed {
        match run(p, line, header) {
            Ok(mut out) if out.len() == 1 => out.remove(0),
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(p: &VpcFlowParser, line: &str) -> String {
        match run(p, line, None) {
            Err(e) => e.reason,
            Ok(out) => panic!("{line} should fail: {out:?}"),
        }
    }

    fn get<'a>(p: &'a Parsed, path: &str) -> Option<&'a Value> {
        p.value.as_object()?.get_path(&Path::parse(path).ok()?)
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn ts(secs: i64) -> Value {
        Value::Timestamp(DateTime::from_timestamp(secs, 0).unwrap())
    }

    fn strs(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|i| s(i)).collect())
    }

    fn check(p: &Parsed, expected: &[(&str, Option<Value>)]) {
        for (path, value) in expected {
            assert_eq!(get(p, path), value.as_ref(), "{path} in {:?}", p.value);
        }
    }

    #[test]
    fn default_v2_record_every_field() {
        let p = one(&VpcFlowParser::default(), V2[0], None);
        assert_eq!(p.timestamp, DateTime::from_timestamp(1418530010, 0));
        check(
            &p,
            &[
                ("aws.vpcflow.version", Some(Value::Int(2))),
                ("aws.vpcflow.account_id", Some(s("123456789010"))),
                ("aws.vpcflow.interface_id", Some(s("eni-1235b8ca123456789"))),
                ("aws.vpcflow.srcaddr", Some(s("172.31.16.139"))),
                ("aws.vpcflow.dstaddr", Some(s("172.31.16.21"))),
                ("aws.vpcflow.srcport", Some(Value::Int(20641))),
                ("aws.vpcflow.dstport", Some(Value::Int(22))),
                ("aws.vpcflow.protocol", Some(Value::Int(6))),
                ("aws.vpcflow.packets", Some(Value::Int(20))),
                ("aws.vpcflow.bytes", Some(Value::Int(4249))),
                ("aws.vpcflow.start", Some(Value::Int(1418530010))),
                ("aws.vpcflow.end", Some(Value::Int(1418530070))),
                ("aws.vpcflow.action", Some(s("ACCEPT"))),
                ("aws.vpcflow.log_status", Some(s("OK"))),
                ("source.address", Some(s("172.31.16.139"))),
                ("source.ip", Some(s("172.31.16.139"))),
                ("source.port", Some(Value::Int(20641))),
                ("source.packets", Some(Value::Int(20))),
                ("source.bytes", Some(Value::Int(4249))),
                ("destination.address", Some(s("172.31.16.21"))),
                ("destination.ip", Some(s("172.31.16.21"))),
                ("destination.port", Some(Value::Int(22))),
                ("network.type", Some(s("ipv4"))),
                ("network.iana_number", Some(s("6"))),
                ("network.transport", Some(s("tcp"))),
                ("network.packets", Some(Value::Int(20))),
                ("network.bytes", Some(Value::Int(4249))),
                ("event.start", Some(ts(1418530010))),
                ("event.end", Some(ts(1418530070))),
                ("event.action", Some(s("accept"))),
                ("event.outcome", Some(s("success"))),
                ("event.type", Some(strs(&["connection", "allowed"]))),
                ("cloud.provider", Some(s("aws"))),
                ("cloud.account.id", Some(s("123456789010"))),
                ("related.ip", Some(strs(&["172.31.16.139", "172.31.16.21"]))),
            ],
        );
    }

    #[test]
    fn s3_file_with_header() {
        let p = VpcFlowParser::default();
        // The header line itself yields nothing, with or without meta.
        assert!(run(&p, HEADER, None).unwrap().is_empty());
        assert!(run(&p, HEADER, Some(HEADER)).unwrap().is_empty());
        assert!(run(&p, &format!("{HEADER}\r\n"), Some(HEADER))
            .unwrap()
            .is_empty());
        let parsed: Vec<Parsed> = V2.iter().map(|l| one(&p, l, Some(HEADER))).collect();

        check(
            &parsed[1],
            &[
                ("event.outcome", Some(s("failure"))),
                ("event.action", Some(s("reject"))),
                ("event.type", Some(strs(&["connection", "denied"]))),
                ("destination.port", Some(Value::Int(3389))),
            ],
        );
        for (p, eni, status) in [
            (&parsed[2], "eni-1235b8ca123456789", "NODATA"),
            (&parsed[3], "eni-11111111aaaaaaaaa", "SKIPDATA"),
        ] {
            check(
                p,
                &[
                    ("aws.vpcflow.version", Some(Value::Int(2))),
                    ("aws.vpcflow.account_id", Some(s("123456789010"))),
                    ("aws.vpcflow.interface_id", Some(s(eni))),
                    ("aws.vpcflow.start", Some(Value::Int(1431280876))),
                    ("aws.vpcflow.end", Some(Value::Int(1431280934))),
                    ("aws.vpcflow.log_status", Some(s(status))),
                    ("aws.vpcflow.srcaddr", None),
                    ("aws.vpcflow.dstaddr", None),
                    ("aws.vpcflow.srcport", None),
                    ("aws.vpcflow.dstport", None),
                    ("aws.vpcflow.protocol", None),
                    ("aws.vpcflow.packets", None),
                    ("aws.vpcflow.bytes", None),
                    ("aws.vpcflow.action", None),
                    ("source", None),
                    ("destination", None),
                    ("network", None),
                    ("related", None),
                    ("event.outcome", Some(s("unknown"))),
                    ("event.type", None),
                    ("event.start", Some(ts(1431280876))),
                ],
            );
        }
        check(
            &parsed[4],
            &[
                ("network.transport", Some(s("icmp"))),
                ("network.iana_number", Some(s("1"))),
                ("source.port", Some(Value::Int(0))),
            ],
        );
        check(
            &parsed[5],
            &[
                (
                    "source.ip",
                    Some(s("2001:db8:1234:a100:8d6e:3477:df66:f105")),
                ),
                (
                    "destination.ip",
                    Some(s("2001:db8:1234:a102:3304:8879:34cf:4071")),
                ),
                ("network.type", Some(s("ipv6"))),
            ],
        );
    }

    #[test]
    fn custom_v3_format_with_double_space() {
        let p = parser(&format!("fields: \"{V3_FORMAT}\""));
        let first = one(&p, V3[0], None);
        check(
            &first,
            &[
                ("aws.vpcflow.version", Some(Value::Int(3))),
                ("aws.vpcflow.vpc_id", Some(s("vpc-abcdefab012345678"))),
                ("aws.vpcflow.subnet_id", Some(s("subnet-aaaaaaaa012345678"))),
                ("aws.vpcflow.instance_id", Some(s("i-01234567890123456"))),
                ("aws.vpcflow.type", Some(s("IPv4"))),
                ("aws.vpcflow.bytes", Some(Value::Int(568))),
                ("aws.vpcflow.packets", Some(Value::Int(8))),
                ("aws.vpcflow.tcp_flags", Some(Value::Int(2))),
                ("aws.vpcflow.tcp_flags_array", Some(strs(&["syn"]))),
                ("aws.vpcflow.pkt_srcaddr", Some(s("52.213.180.42"))),
                ("cloud.instance.id", Some(s("i-01234567890123456"))),
            ],
        );
        let second = one(&p, V3[1], None);
        check(
            &second,
            &[
                ("aws.vpcflow.dstport", Some(Value::Int(43638))),
                ("aws.vpcflow.pkt_srcaddr", Some(s("10.0.0.62"))),
                ("aws.vpcflow.bytes", Some(Value::Int(967))),
                ("aws.vpcflow.packets", Some(Value::Int(14))),
                ("aws.vpcflow.tcp_flags", Some(Value::Int(19))),
                (
                    "aws.vpcflow.tcp_flags_array",
                    Some(strs(&["fin", "syn", "ack"])),
                ),
                ("aws.vpcflow.log_status", Some(s("OK"))),
            ],
        );
        // The same lines under their header, with no `fields` option.
        let from_header = one(&VpcFlowParser::default(), V3[1], Some(V3_FORMAT));
        assert_eq!(from_header, second);
    }

    #[test]
    fn custom_v5_format() {
        let p = parser(&format!("fields: \"{V5_FORMAT}\""));
        let first = one(&p, V5[0], None);
        check(
            &first,
            &[
                ("aws.vpcflow.version", Some(Value::Int(5))),
                ("aws.vpcflow.srcaddr", Some(s("52.95.128.179"))),
                ("aws.vpcflow.dstaddr", Some(s("10.0.0.71"))),
                ("aws.vpcflow.srcport", Some(Value::Int(80))),
                ("aws.vpcflow.dstport", Some(Value::Int(34210))),
                ("aws.vpcflow.protocol", Some(Value::Int(6))),
                ("aws.vpcflow.start", Some(Value::Int(1616729292))),
                ("aws.vpcflow.end", Some(Value::Int(1616729349))),
                ("aws.vpcflow.type", Some(s("IPv4"))),
                ("aws.vpcflow.packets", Some(Value::Int(14))),
                ("aws.vpcflow.bytes", Some(Value::Int(15044))),
                ("aws.vpcflow.account_id", Some(s("123456789012"))),
                ("aws.vpcflow.region", Some(s("ap-southeast-2"))),
                ("aws.vpcflow.az_id", Some(s("apse2-az3"))),
                ("aws.vpcflow.sublocation_type", None),
                ("aws.vpcflow.sublocation_id", None),
                ("aws.vpcflow.action", Some(s("ACCEPT"))),
                ("aws.vpcflow.tcp_flags", Some(Value::Int(19))),
                ("aws.vpcflow.pkt_src_aws_service", Some(s("S3"))),
                ("aws.vpcflow.pkt_dst_aws_service", None),
                ("aws.vpcflow.traffic_path", None),
                ("aws.vpcflow.flow_direction", Some(s("ingress"))),
                ("aws.vpcflow.log_status", Some(s("OK"))),
                ("cloud.region", Some(s("ap-southeast-2"))),
                ("cloud.availability_zone", Some(s("apse2-az3"))),
                ("network.direction", Some(s("ingress"))),
                ("event.start", Some(ts(1616729292))),
            ],
        );
        assert_eq!(first.timestamp, DateTime::from_timestamp(1616729292, 0));
        let second = one(&p, V5[1], None);
        check(
            &second,
            &[
                ("aws.vpcflow.traffic_path", Some(Value::Int(8))),
                ("aws.vpcflow.pkt_dst_aws_service", Some(s("S3"))),
                ("aws.vpcflow.tcp_flags_array", Some(strs(&["fin", "syn"]))),
                ("network.direction", Some(s("egress"))),
            ],
        );
    }

    #[test]
    fn nat_gateway_custom_format() {
        let p = parser(&format!("fields: '{NAT_FORMAT}'"));
        let r = one(&p, NAT, None);
        check(
            &r,
            &[
                ("aws.vpcflow.instance_id", None),
                ("aws.vpcflow.interface_id", Some(s("eni-1235b8ca123456789"))),
                ("aws.vpcflow.srcaddr", Some(s("10.0.1.5"))),
                ("aws.vpcflow.dstaddr", Some(s("10.0.0.220"))),
                ("aws.vpcflow.pkt_srcaddr", Some(s("10.0.1.5"))),
                ("aws.vpcflow.pkt_dstaddr", Some(s("203.0.113.5"))),
                ("cloud.instance", None),
                (
                    "related.ip",
                    Some(strs(&["10.0.1.5", "10.0.0.220", "203.0.113.5"])),
                ),
            ],
        );
        // No start: the event keeps its ingestion time.
        assert_eq!(r.timestamp, None);
    }

    #[test]
    fn field_order_sources() {
        // `${…}` and underscores are accepted in `fields`.
        let p = parser("fields: '${srcaddr} ${dst_addr_unknown} ${log_status}'");
        let r = one(&p, "10.0.0.1 x OK", None);
        check(
            &r,
            &[
                ("aws.vpcflow.srcaddr", Some(s("10.0.0.1"))),
                ("aws.vpcflow.dst_addr_unknown", Some(s("x"))),
                ("aws.vpcflow.log_status", Some(s("OK"))),
            ],
        );
        // A header wins over the option; a "header" that is a record does not.
        let p = parser(&format!("fields: '{NAT_FORMAT}'"));
        let r = one(&p, V2[0], Some(HEADER));
        assert_eq!(get(&r, "aws.vpcflow.version"), Some(&Value::Int(2)));
        let r = one(&p, NAT, Some(V2[0]));
        assert_eq!(get(&r, "aws.vpcflow.pkt_dstaddr"), Some(&s("203.0.113.5")));
        // Unknown (newer) names in a header are kept as strings.
        let header = "version interface-id encryption-status resource-id";
        let r = one(
            &VpcFlowParser::default(),
            "9 eni-1 2 vpc-0abc",
            Some(header),
        );
        check(
            &r,
            &[
                ("aws.vpcflow.encryption_status", Some(s("2"))),
                ("aws.vpcflow.resource_id", Some(s("vpc-0abc"))),
            ],
        );
        // A record of words looking like names is no header.
        let p = parser("fields: 'flow-direction region'");
        let r = one(&p, "ingress us-east-1", None);
        assert_eq!(get(&r, "network.direction"), Some(&s("ingress")));
        // A repeated name in a header: the first one counts.
        let r = one(&VpcFlowParser::default(), "2 3", Some("version version"));
        assert_eq!(get(&r, "aws.vpcflow.version"), Some(&Value::Int(2)));
    }

    #[test]
    fn transit_gateway_and_ecs_fields() {
        let header = "version resource-type account-id tgw-id srcaddr dstaddr protocol packets-lost-no-route tcp-flags";
        let r = one(
            &VpcFlowParser::default(),
            "6 TransitGateway 123456789012 tgw-0123 10.0.0.1 10.0.1.1 17 3 24",
            Some(header),
        );
        check(
            &r,
            &[
                ("aws.vpcflow.resource_type", Some(s("TransitGateway"))),
                ("aws.vpcflow.tgw_id", Some(s("tgw-0123"))),
                ("aws.vpcflow.packets_lost_no_route", Some(Value::Int(3))),
                ("aws.vpcflow.tcp_flags_array", Some(strs(&["psh", "ack"]))),
                ("network.transport", Some(s("udp"))),
            ],
        );
        let header = "version ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason action";
        let line = "7 arn:aws:ecs:us-east-1:1:cluster/c c arn:aws:ecs:us-east-1:1:container-instance/c/x x cid1 cid2 svc arn:td arn:task tid BPA REJECT";
        let r = one(&VpcFlowParser::default(), line, Some(header));
        check(
            &r,
            &[
                (
                    "orchestrator.cluster.id",
                    Some(s("arn:aws:ecs:us-east-1:1:cluster/c")),
                ),
                ("orchestrator.cluster.name", Some(s("c"))),
                ("orchestrator.type", Some(s("ecs"))),
                (
                    "orchestrator.resource.name",
                    Some(s("arn:aws:ecs:us-east-1:1:container-instance/c/x")),
                ),
                ("orchestrator.resource.type", Some(s("container"))),
                ("orchestrator.resource.id", Some(s("x"))),
                ("container.id", Some(s("cid1"))),
                ("service.name", Some(s("svc"))),
                ("aws.vpcflow.ecs_second_container_id", Some(s("cid2"))),
                ("aws.vpcflow.ecs_task_id", Some(s("tid"))),
                ("aws.vpcflow.reject_reason", Some(s("BPA"))),
                ("event.reason", Some(s("BPA"))),
                ("event.outcome", Some(s("failure"))),
            ],
        );
    }

    #[test]
    fn modes() {
        let ecs = one(&parser("mode: ecs"), V2[0], None);
        check(
            &ecs,
            &[
                ("aws.vpcflow.version", Some(Value::Int(2))),
                ("aws.vpcflow.interface_id", Some(s("eni-1235b8ca123456789"))),
                ("aws.vpcflow.log_status", Some(s("OK"))),
                ("aws.vpcflow.srcaddr", None),
                ("aws.vpcflow.account_id", None),
                ("aws.vpcflow.start", None),
                ("aws.vpcflow.action", None),
                ("source.ip", Some(s("172.31.16.139"))),
                ("event.outcome", Some(s("success"))),
            ],
        );
        let original = one(&parser("mode: original"), V2[0], None);
        assert_eq!(original.value.as_object().map(Fields::len), Some(1));
        assert_eq!(
            get(&original, "aws.vpcflow.srcaddr"),
            Some(&s("172.31.16.139"))
        );
        assert_eq!(original.timestamp, DateTime::from_timestamp(1418530010, 0));
    }

    #[test]
    fn errors_name_field_and_value() {
        let p = VpcFlowParser::default();
        assert_eq!(
            error(&p, &V2[0].replace(" 20641 ", " abc ")),
            "field 6 (srcport): expected a number or `-`, found `abc`"
        );
        assert_eq!(
            error(&p, &V2[0].replace("172.31.16.21", "172.31.16.x")),
            "field 5 (dstaddr): expected an IP address or `-`, found `172.31.16.x`"
        );
        assert_eq!(
            error(&p, &V2[0].replace(" OK", "")),
            "expected 14 fields (the default version 2 format), found 13"
        );
        assert_eq!(
            error(&p, &format!("{} extra", V2[0])),
            "expected 14 fields (the default version 2 format), found 15"
        );
        assert_eq!(
            error(&parser("fields: 'version srcport'"), "2"),
            "expected 2 fields (the `fields` option), found 1"
        );
        let mut out = Vec::new();
        let e = p
            .parse(
                &Bytes::from_static(b"1 2"),
                &event(Some("version srcport dstport")),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            e.reason,
            "expected 3 fields (the file's header line), found 2"
        );
        assert_eq!(
            error(&p, &V2[0].replace("1418530010", "99999999999999999")),
            "field 11 (start): expected a Unix time in seconds or `-`, found `99999999999999999`"
        );
        assert!(error(&p, "").starts_with("empty record"));
        assert!(error(&p, " \r\n").starts_with("empty record"));
    }

    #[test]
    fn details() {
        let p = VpcFlowParser::default();
        // `unknown` account, tabs, trailing CR LF.
        let line = V2[0].replace("123456789010", "unknown").replace(' ', "\t");
        let r = one(&p, &format!("{line}\r\n"), None);
        assert_eq!(get(&r, "cloud.account.id"), Some(&s("unknown")));
        assert_eq!(get(&r, "aws.vpcflow.log_status"), Some(&s("OK")));
        // Values are slices of the input.
        let input = Bytes::from_static(V2[0].as_bytes());
        let mut out = Vec::new();
        p.parse(&input, &event(None), &mut out).unwrap();
        let eni = get(&out[0], "aws.vpcflow.interface_id")
            .and_then(Value::as_bytes)
            .unwrap();
        let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        assert!(range.contains(&(eni.as_ptr() as usize)));
        // Protocol names.
        for (n, name) in [
            (0, Some("hopopt")),
            (6, Some("tcp")),
            (17, Some("udp")),
            (58, Some("ipv6-icmp")),
            (47, Some("gre")),
            (50, Some("esp")),
            (132, Some("sctp")),
            (61, None),
            (200, None),
            (255, None),
            (256, None),
        ] {
            assert_eq!(protocol_name(n), name, "{n}");
        }
        let r = one(&p, &V2[0].replace(" 6 20 ", " 253 20 "), None);
        assert_eq!(get(&r, "network.transport"), None);
        assert_eq!(get(&r, "network.iana_number"), Some(&s("253")));
        assert!(tcp_flags(0).is_empty());
        assert_eq!(tcp_flags(18), ["syn", "ack"]);
        assert_eq!(tcp_flags(256 + 1), ["fin"]);
    }

    #[test]
    fn options_are_checked() {
        let err = |text: &str| {
            let node = yaml::parse(text).unwrap();
            from_node::<VpcFlowOptions>(&node).unwrap_err()
        };
        let e = err("fields: 'version version'");
        assert!(e.message.contains("listed twice"), "{e}");
        assert!(e.loc.is_some_and(|l| l.line == 1), "{e:?}");
        assert!(err("fields: 'version a.b'")
            .message
            .contains("invalid field name `a.b`"));
        assert!(err("fields: ''").message.contains("names no field"));
        assert!(err("field: 'version'").message.contains("unknown field"));
        assert!(err("mode: both").message.contains("unknown variant"));
        let node = yaml::parse("{}").unwrap();
        assert!(crate::parsers::registry::build("vpc_flow", &node).is_ok());
    }

    // Property tests.

    fn value_for(kind: Kind) -> BoxedStrategy<Option<String>> {
        let v = match kind {
            Kind::Int => (0..i64::MAX).prop_map(|n| n.to_string()).boxed(),
            Kind::Ip => any::<IpAddr>().prop_map(|ip| ip.to_string()).boxed(),
            Kind::Str => "[!-~]{1,20}".prop_filter("not -", |s| s != "-").boxed(),
        };
        prop::option::of(v).boxed()
    }

    /// A random custom format (known and unknown names, any order) and a
    /// record in it, with random runs of blanks between the fields.
    fn format_and_record(
    ) -> impl Strategy<Value = (Vec<String>, Vec<Option<String>>, Vec<&'static str>)> {
        let names = prop::sample::subsequence(
            KNOWN.iter().map(|k| k.name.to_owned()).collect::<Vec<_>>(),
            1..KNOWN.len(),
        )
        .prop_shuffle();
        (names, prop::collection::vec("new-[a-z]{1,8}", 0..2))
            .prop_map(|(mut names, extra)| {
                for e in extra {
                    if !names.contains(&e) {
                        names.push(e);
                    }
                }
                names
            })
            .prop_flat_map(|names| {
                let values: Vec<_> = names
                    .iter()
                    .map(|n| value_for(known(n.as_bytes()).map_or(Kind::Str, |k| k.kind)))
                    .collect();
                let gaps = prop::collection::vec(
                    prop::sample::select(vec![" ", "  ", "\t", " \t "]),
                    names.len(),
                );
                (Just(names), values, gaps)
            })
    }

    proptest! {
        #[test]
        fn rendered_records_parse_back((names, values, gaps) in format_and_record()) {
            let mut line = String::new();
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    line.push_str(gaps[i]);
                }
                line.push_str(v.as_deref().unwrap_or("-"));
            }
            let p = VpcFlowParser::new(VpcFlowOptions {
                fields: Some(FieldList(Schema::from_config(&names.join(" ")).unwrap())),
                mode: Mode::EcsAndOriginal,
            });
            let result = run(&p, &line, None);
            // `start`/`end` beyond chrono's range are refused; all else parses.
            let too_late = names.iter().zip(&values).any(|(n, v)| {
                (n == "start" || n == "end")
                    && v.as_ref().is_some_and(|v| v.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0)).is_none())
            });
            if too_late {
                prop_assert!(result.is_err());
                return Ok(());
            }
            let out = result.map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
            if is_header(line.as_bytes()) {
                prop_assert!(out.is_empty());
                return Ok(());
            }
            prop_assert_eq!(out.len(), 1);
            for (name, value) in names.iter().zip(&values) {
                let key = name.replace('-', "_");
                let got = get(&out[0], &format!("aws.vpcflow.{key}"));
                let expected = value.as_ref().map(|v| match known(name.as_bytes()).map(|k| k.kind) {
                    Some(Kind::Int) => Value::Int(v.parse().unwrap()),
                    _ => Value::from(v.as_str()),
                });
                prop_assert_eq!(got, expected.as_ref(), "{} in {}", name, line);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            header in prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
        ) {
            let mut e = Event::from_text("");
            e.meta.header = header.map(Bytes::from);
            let mut out = Vec::new();
            let _ = VpcFlowParser::default().parse(&Bytes::from(bytes.clone()), &e, &mut out);
            e.meta.header = Some(Bytes::from_static(V5_FORMAT.as_bytes()));
            let _ = VpcFlowParser::default().parse(&Bytes::from(bytes), &e, &mut out);
        }

        #[test]
        fn damaged_records_never_panic(cut in 0usize..V5[0].len(), at in 0usize..V5[0].len(), byte in any::<u8>()) {
            let mut line = V5[0].as_bytes()[..cut].to_vec();
            if at < line.len() {
                line[at] = byte;
            }
            let mut out = Vec::new();
            let _ = VpcFlowParser::default().parse(&Bytes::from(line), &event(Some(V5_FORMAT)), &mut out);
        }
    }
}
