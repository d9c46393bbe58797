//! The engine's state in the companion collection `<collection>_rag_state`: named byte strings (the index
//! metadata, the manifest, the unfinished-ingest mark), each stored as parts of at most [`PART`] bytes so
//! that no message nears gRPC's 4 MiB limit, plus a header point naming the parts of the current generation.
//!
//! A write sends the new generation's parts, then the header (each acknowledged with `wait` and strong
//! ordering), then deletes older parts: a reader, or a writer that crashed half way, always finds the old or
//! the new bytes whole.

use base64::Engine as _;
use qdrant_client::qdrant::{
    self, vectors_config, Condition, CreateCollection, DeletePoints, Distance, Filter, GetPoints, PointId, PointStruct,
    UpsertPoints, VectorParams, Vectors, VectorsConfig, WithPayloadSelector, WithVectorsSelector,
};
use sha2::{Digest, Sha256};

use super::{strong, Conn, QdrantOptions};
use crate::Error;

/// Bytes per part.
const PART: usize = 1 << 20;

/// Creates the state collection: one shard (it is small), replicated like the chunks.
pub(super) fn create(conn: &Conn, options: &QdrantOptions) -> Result<(), Error> {
    let request = CreateCollection {
        collection_name: conn.state.clone(),
        shard_number: Some(1),
        replication_factor: Some(options.replication_factor.max(1)),
        write_consistency_factor: Some(1),
        vectors_config: Some(VectorsConfig {
            config: Some(vectors_config::Config::Params(VectorParams {
                size: 1,
                distance: Distance::Dot as i32,
                ..Default::default()
            })),
        }),
        timeout: Some(conn.timeout.as_secs().max(1)),
        ..Default::default()
    };
    let client = conn.client.clone();
    conn.block(async move { client.create_collection(request).await })?;
    Ok(())
}

/// A stable point id for a name in the state collection.
pub(super) fn point_id(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn header_id(name: &str) -> u64 {
    point_id(&format!("state:{name}"))
}

fn part_id(name: &str, generation: u64, i: usize) -> u64 {
    point_id(&format!("part:{name}:{generation}:{i}"))
}

/// How state is read: from any one active replica. A state write (`wait = true`) returns once every active
/// replica applied it, so any of them is current; asking all of them would fail while a node is down.
pub(super) fn consistent() -> Option<qdrant::ReadConsistency> {
    None
}

/// The payload of one point of the state collection, as JSON.
pub(super) fn get(conn: &Conn, id: u64) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
    let request = GetPoints {
        collection_name: conn.state.clone(),
        ids: vec![PointId::from(id)],
        with_payload: Some(WithPayloadSelector::from(true)),
        with_vectors: Some(WithVectorsSelector::from(false)),
        read_consistency: consistent(),
        ..Default::default()
    };
    let client = conn.client.clone();
    let reply = conn.block(async move { client.get_points(request).await })?;
    Ok(reply.result.into_iter().next().map(|point| {
        point
            .payload
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::from(v)))
            .collect()
    }))
}

/// Upserts points of the state collection (`update_filter`: only existing points matching it are replaced).
pub(super) fn put(
    conn: &Conn,
    points: Vec<(u64, serde_json::Value)>,
    update_filter: Option<Filter>,
) -> Result<(), Error> {
    let points = points
        .into_iter()
        .map(|(id, payload)| {
            let payload = qdrant_client::Payload::try_from(payload).map_err(|e| Error::Storage(e.to_string()))?;
            Ok(PointStruct {
                id: Some(PointId::from(id)),
                payload: payload.into(),
                vectors: Some(Vectors::from(vec![1.0f32])),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let request = UpsertPoints {
        collection_name: conn.state.clone(),
        wait: Some(true),
        points,
        ordering: Some(strong()),
        update_filter,
        ..Default::default()
    };
    let client = conn.client.clone();
    conn.block(async move { client.upsert_points(request).await })?;
    Ok(())
}

pub(super) fn delete(conn: &Conn, selector: qdrant::PointsSelector) -> Result<(), Error> {
    let request = DeletePoints {
        collection_name: conn.state.clone(),
        wait: Some(true),
        points: Some(selector),
        ordering: Some(strong()),
        ..Default::default()
    };
    let client = conn.client.clone();
    conn.block(async move { client.delete_points(request).await })?;
    Ok(())
}

/// Reads the named state, `None` if it was never written.
pub(super) fn read(conn: &Conn, name: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(header) = get(conn, header_id(name))? else {
        return Ok(None);
    };
    let damaged = |what: &str| Error::Storage(format!("{}: state {name:?}: {what}", conn.location));
    let generation = header
        .get("generation")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| damaged("no generation"))?;
    let parts = header
        .get("parts")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| damaged("no part count"))?;
    let len = header
        .get("len")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| damaged("no length"))?;
    let mut bytes = Vec::with_capacity(len as usize);
    for i in 0..parts as usize {
        let part = get(conn, part_id(name, generation, i))?.ok_or_else(|| damaged(&format!("part {i} missing")))?;
        let data = part
            .get("data")
            .and_then(|v| v.as_str())
            .ok_or_else(|| damaged(&format!("part {i} empty")))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| damaged(&format!("part {i}: {e}")))?;
        bytes.extend_from_slice(&decoded);
    }
    if bytes.len() as u64 != len {
        return Err(damaged(&format!("{} bytes, header says {len}", bytes.len())));
    }
    Ok(Some(bytes))
}

/// Replaces the named state with `bytes`.
pub(super) fn write(conn: &Conn, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let generation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let chunks: Vec<&[u8]> = if bytes.is_empty() {
        Vec::new()
    } else {
        bytes.chunks(PART).collect()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD.encode(chunk);
        put(
            conn,
            vec![(
                part_id(name, generation, i),
                serde_json::json!({"kind": "part", "name": name, "generation": generation, "i": i, "data": data}),
            )],
            None,
        )?;
    }
    put(
        conn,
        vec![(
            header_id(name),
            serde_json::json!({"kind": "state", "name": name, "generation": generation,
                               "parts": chunks.len(), "len": bytes.len()}),
        )],
        None,
    )?;
    // Parts of other generations (the one replaced, or one a crashed writer left) are no longer named.
    delete(
        conn,
        qdrant::PointsSelector::from(Filter {
            must: vec![
                Condition::matches("kind", "part".to_owned()),
                Condition::matches("name", name.to_owned()),
            ],
            must_not: vec![Condition::matches("generation", generation as i64)],
            ..Default::default()
        }),
    )
}

/// Removes the named state.
pub(super) fn remove(conn: &Conn, name: &str) -> Result<(), Error> {
    delete(conn, qdrant::PointsSelector::from(vec![PointId::from(header_id(name))]))?;
    delete(
        conn,
        qdrant::PointsSelector::from(Filter::must([
            Condition::matches("kind", "part".to_owned()),
            Condition::matches("name", name.to_owned()),
        ])),
    )
}
