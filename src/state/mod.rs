//! State that survives restarts: checkpoints of inputs that can replay (S3,
//! Kinesis), kept in local files under `data_dir`, and the DynamoDB lease
//! table through which several weir instances share Kinesis shards.

pub mod checkpoint;
pub mod leases;
