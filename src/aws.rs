//! AWS clients for the S3, SQS, Kinesis and DynamoDB components.
//!
//! Every AWS component takes the same connection options — `region`,
//! `endpoint` (for S3-compatible stores, LocalStack or `moto_server`) and, for
//! S3, `force_path_style` — and gets its credentials from the standard AWS
//! chain: environment variables, the shared config and credentials files
//! (`AWS_PROFILE`), web identity tokens (EKS), the ECS container endpoint and
//! EC2 instance metadata. Credentials are never part of a pipeline file.
//!
//! The HTTPS client is rustls with the `ring` provider, like every other
//! client in weir, and trusts the system's CA store.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Used when neither the component nor the environment names a region, as
/// Logstash does, so that a pipeline against an S3-compatible store works
/// without one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Connection options shared by every AWS component; each component's config
/// struct carries these keys and builds one of these from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `region`; otherwise `AWS_REGION`/the profile's region, then
    /// [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// `endpoint`: a URL replacing the service's AWS endpoint.
    pub endpoint: Option<String>,
    /// `force_path_style` (S3 only): `http://host/bucket/key` instead of
    /// `http://bucket.host/key`, which most S3-compatible stores need.
    pub force_path_style: bool,
}

impl AwsSettings {
    /// The settings from a component's `region`, `endpoint` and
    /// `force_path_style` options. An empty or blank value counts as unset,
    /// so `endpoint: ${S3_ENDPOINT:-}` means "AWS itself" when the variable
    /// is not set.
    pub fn from_options(
        region: &Option<String>,
        endpoint: &Option<String>,
        force_path_style: bool,
    ) -> AwsSettings {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        AwsSettings {
            region: set(region),
            endpoint: set(endpoint),
            force_path_style,
        }
    }

    /// Checks the options that can be checked without the network, for
    /// `weir validate`.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(endpoint) = &self.endpoint {
            let ok = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if !ok || endpoint.len() <= "https://".len() {
                return Err(format!(
                    "endpoint `{endpoint}` is not a URL; expected http://host:port or https://host"
                ));
            }
        }
        if let Some(region) = &self.region {
            if region.is_empty() || region.contains(char::is_whitespace) {
                return Err(format!(
                    "region `{region}` is not an AWS region name (e.g. eu-west-1)"
                ));
            }
        }
        Ok(())
    }

    /// Resolves region and credentials providers. Credentials themselves are
    /// fetched lazily by the SDK on the first request, and refreshed by it.
    pub async fn load(&self) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint.trim_end_matches('/'));
        }
        let config = loader.load().await;
        if config.region().is_some() {
            return config;
        }
        tracing::info!(
            region = DEFAULT_REGION,
            "no AWS region configured (region option, AWS_REGION or profile); using the default"
        );
        config
            .into_builder()
            .region(Region::new(DEFAULT_REGION))
            .build()
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = self.load().await;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(self.force_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.load().await)
    }

    pub async fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.load().await)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.load().await)
    }
}

/// An SDK error with its whole cause chain (`service error` alone, the SDK's
/// `Display`, says nothing); for log lines and error messages.
pub fn describe(err: &(dyn StdError + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}

/// Exponential backoff with full jitter, for retrying AWS calls that failed
/// with throttling or a transient error: `base * 2^attempt`, capped at `max`,
/// then a uniformly random fraction of that.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(max);
    // xorshift on the clock: good enough to spread retries, no rand crate.
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0x9E37_79B9_7F4A_7C15)
        | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let fraction = (x % 1000) as f64 / 1000.0;
    ceiling.mul_f64(fraction.max(0.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_options_count_as_unset() {
        let s = |v: &str| Some(v.to_owned());
        let settings = AwsSettings::from_options(&s(" "), &s(""), true);
        assert_eq!(settings.region, None);
        assert_eq!(settings.endpoint, None);
        assert!(settings.force_path_style);
        let settings = AwsSettings::from_options(&s("eu-west-1"), &None, false);
        assert_eq!(settings.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn validate_names_the_bad_option() {
        let bad = AwsSettings {
            endpoint: Some("localhost:5000".into()),
            ..Default::default()
        };
        let err = bad.validate().unwrap_err();
        assert!(err.contains("localhost:5000"), "{err}");
        let bad = AwsSettings {
            region: Some("eu west".into()),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("eu west"));
        let good = AwsSettings {
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:5000".into()),
            force_path_style: true,
        };
        assert_eq!(good.validate(), Ok(()));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 0..40 {
            let d = backoff(attempt, base, max);
            assert!(d <= max, "attempt {attempt}: {d:?}");
            let ceiling = base
                .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
                .min(max);
            assert!(d >= ceiling.mul_f64(0.1), "attempt {attempt}: {d:?}");
        }
    }

    #[tokio::test]
    async fn explicit_region_and_endpoint_are_used() {
        let settings = AwsSettings {
            region: Some("eu-central-1".into()),
            endpoint: Some("http://127.0.0.1:1/".into()),
            force_path_style: true,
        };
        let sdk = settings.load().await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-central-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
