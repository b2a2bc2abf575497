//! A training run's state after each finished epoch, in one file beside the weights, so that a
//! run that is killed goes on from its last finished epoch (`train --resume`) and ends as an
//! uninterrupted run of the same seed would: the model and Adam's moments (Burn records, which
//! keep the parameter ids the optimizer state is keyed by), the best model so far when it is not
//! the last, the shuffled clip order, the shuffling stream, the schedule and the history.

use crate::data::Dataset;
use crate::split::Split;
use crate::train::{EpochStats, Schedule, TrainConfig};
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use speech_emotion::model::{EmotionNet, ModelConfig};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SECKPT01";

/// Where a run keeps its checkpoint, and whether it starts from it.
pub struct Checkpointing {
    pub path: PathBuf,
    pub resume: bool,
}

/// What a checkpoint must match to be taken up: the recipe, the network and the training clips
/// (their files and labels, hashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunId {
    train_config: serde_json::Value,
    model_config: serde_json::Value,
    train_clips: usize,
    clips_hash: u64,
}

impl RunId {
    pub fn new(
        config: &TrainConfig,
        model_config: &ModelConfig,
        data: &Dataset,
        split: &Split,
    ) -> Self {
        let mut h = DefaultHasher::new();
        for &i in &split.train {
            data.clips[i].path.hash(&mut h);
            data.labels[i].hash(&mut h);
        }
        Self {
            train_config: serde_json::json!(config),
            model_config: serde_json::json!(model_config),
            train_clips: split.train.len(),
            clips_hash: h.finish(),
        }
    }
}

/// The state of a run after `epoch` finished epochs.
pub struct State {
    pub epoch: usize,
    /// The model being trained (autodiff device).
    pub model: EmotionNet,
    pub optim: ModuleOptimizer,
    /// The best model so far when early stopping keeps it rather than the last (inference).
    pub best: Option<EmotionNet>,
    pub order: Vec<usize>,
    pub rng: ChaCha12Rng,
    pub schedule: Schedule,
    pub history: Vec<EpochStats>,
}

/// The part of [`State`] that is not tensors.
#[derive(Serialize, Deserialize)]
struct Meta {
    run: RunId,
    epoch: usize,
    order: Vec<usize>,
    rng: ChaCha12Rng,
    schedule: Schedule,
    history: Vec<EpochStats>,
}

impl Checkpointing {
    /// Writes `state` (and `best`, the model kept when it is not the last), replacing the
    /// previous checkpoint only once the new one is whole.
    pub fn save(
        &self,
        run: &RunId,
        state: &State,
        best: Option<&EmotionNet>,
    ) -> Result<(), String> {
        let meta = serde_json::to_vec(&Meta {
            run: run.clone(),
            epoch: state.epoch,
            order: state.order.clone(),
            rng: state.rng.clone(),
            schedule: state.schedule.clone(),
            history: state.history.clone(),
        })
        .map_err(|e| e.to_string())?;
        let record = |m: &EmotionNet| {
            m.clone()
                .into_record()
                .into_bytes()
                .map(|b| b.to_vec())
                .map_err(|e| format!("{e:?}"))
        };
        let optim = state
            .optim
            .to_record()
            .into_bytes()
            .map_err(|e| format!("{e:?}"))?;
        let best = best.map(record).transpose()?.unwrap_or_default();
        let tmp = self.path.with_extension("checkpoint-partial");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            for section in [
                &meta[..],
                &record(&state.model).map_err(std::io::Error::other)?,
                &optim,
                &best,
            ] {
                f.write_all(&(section.len() as u64).to_le_bytes())?;
                f.write_all(section)?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| format!("cannot write the checkpoint {}: {e}", self.path.display()))
    }

    /// The state saved for `run`, on `device`; `None` (and a note) when there is none yet.
    pub fn load(
        &self,
        run: &RunId,
        model_config: &ModelConfig,
        device: &Device,
    ) -> Result<Option<State>, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "no checkpoint at {}: starting from the first epoch",
                    self.path.display()
                );
                return Ok(None);
            }
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        let bad = |why: &str| format!("{} is not a usable checkpoint: {why}", self.path.display());
        let sections =
            split_sections(&bytes).ok_or_else(|| bad("truncated or not a checkpoint"))?;
        let [meta, model, optim, best] = sections;
        let meta: Meta = serde_json::from_slice(meta).map_err(|e| bad(&e.to_string()))?;
        if meta.run != *run {
            return Err(format!(
                "the checkpoint {} was left by another run (the recipe, the network or the training clips differ): run with the options it was started with, or delete it to start over",
                self.path.display()
            ));
        }
        let module = |bytes: &[u8], device: &Device| {
            ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
                .and_then(|r| model_config.init(device).try_load_record(r))
                .map_err(|e| bad(&format!("{e:?}")))
        };
        let optim_record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(optim.to_vec()))
            .map_err(|e| bad(&format!("{e:?}")))?;
        let state = State {
            epoch: meta.epoch,
            model: module(model, device)?,
            optim: burn::optim::AdamConfig::new()
                .init()
                .load_record(optim_record),
            best: if best.is_empty() {
                None
            } else {
                Some(module(best, &Device::flex())?.valid())
            },
            order: meta.order,
            rng: meta.rng,
            schedule: meta.schedule,
            history: meta.history,
        };
        eprintln!(
            "resuming from {} after epoch {}",
            self.path.display(),
            state.epoch
        );
        Ok(Some(state))
    }

    /// Removes the checkpoint once the run's results are written.
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "warning: cannot remove the checkpoint {}: {e}",
                self.path.display()
            );
        }
    }
}

/// The checkpoint of the weights file `out`: `OUT.checkpoint` beside it.
pub fn beside(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// The four length-prefixed sections after the magic, if the file holds exactly them.
fn split_sections(bytes: &[u8]) -> Option<[&[u8]; 4]> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut out = [&[][..]; 4];
    for section in &mut out {
        let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        rest = &rest[8..];
        *section = rest.get(..len)?;
        rest = &rest[len..];
    }
    rest.is_empty().then_some(out)
}
