//! Device selection for candle backends, and the CPU thread pool.

use candle_core::Device;

use crate::config::DeviceChoice;
use crate::error::{Error, Result};

/// Resolves a [`DeviceChoice`]: `auto` takes a GPU when this binary was built with one and it is present, and
/// says on stderr (once per process) why it fell back to the CPU when a GPU build finds none.
pub fn select(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => {
            if !candle_core::utils::cuda_is_available() {
                return Err(Error::Config(
                    "--device cuda: this rag was built without the `cuda` feature (cargo build --features cuda)".into(),
                ));
            }
            open_cuda().map_err(|e| Error::Config(format!("--device cuda: {e}")))
        }
        DeviceChoice::Metal => {
            if !candle_core::utils::metal_is_available() {
                return Err(Error::Config(
                    "--device metal: this rag was built without the `metal` feature (cargo build --features metal)"
                        .into(),
                ));
            }
            Device::new_metal(0).map_err(|e| Error::Config(format!("metal device 0: {e}")))
        }
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                match open_cuda() {
                    Ok(device) => return Ok(device),
                    Err(e) => {
                        static SAID: std::sync::Once = std::sync::Once::new();
                        SAID.call_once(|| eprintln!("rag: no GPU ({e}); running on the CPU"));
                    }
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(device) = Device::new_metal(0) {
                    return Ok(device);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// CUDA device 0. The CUDA libraries (the driver's libcuda, cuBLAS, cuRAND, NVRTC) are opened at the first
/// use, not linked (eval/cuda-toolkit.sh), so a CUDA build starts on a machine without them; cudarc panics
/// when one is missing, which is turned here into an error naming it.
fn open_cuda() -> std::result::Result<Device, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| Device::new_cuda(0));
    std::panic::set_hook(hook);
    match opened {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => Err(format!("CUDA device 0: {e}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown failure");
            // cudarc's message is long; keep the part that names the library.
            let short = message.split(" - searched").next().unwrap_or(message);
            Err(format!(
                "the CUDA driver or runtime libraries are not available ({short}); install the NVIDIA driver, \
                 or run with --device cpu"
            ))
        }
    }
}

/// A short name of a device: `cpu`, `cuda:0`, `metal:0`.
pub fn name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Peak resident memory of this process (`VmHWM` in /proc/self/status), on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Physical cores, the default thread count: hyper-threads share the SIMD units these kernels saturate.
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// The environment variables candle sizes its CPU pool from, with their values for `threads`.
///
/// candle looks them up on every matmul and, when they are unset, counts the CPUs each time (5 % of decode time
/// in a profile). A library must not set variables (`setenv` races with any thread reading the environment),
/// so the `rag` binary sets these in `main`, before it starts a thread; a value the user exported wins. A
/// service embedding the library may do the same at its start.
pub fn thread_env(threads: usize) -> [(&'static str, String); 2] {
    let n = threads.max(1).to_string();
    [("CANDLE_NUM_THREADS", n.clone()), ("RAYON_NUM_THREADS", n)]
}

/// Sizes the global rayon pool that candle's CPU kernels run on (first call wins; later calls are no-ops).
/// Touches nothing but rayon: no environment variables.
pub(crate) fn configure_threads(threads: usize) {
    // An error only means the pool was already built, by an earlier engine in this process.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
}
