//! Class names: the 80 COCO names (spelled as the reference pipeline spells them, with
//! underscores: `traffic_light`, `dining_table`, ...) or a labels file, one name per line.

use super::DetectError;
use std::path::Path;

/// COCO-80 class names in model output order (class 0 = person).
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic_light",
    "fire_hydrant",
    "stop_sign",
    "parking_meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports_ball",
    "kite",
    "baseball_bat",
    "baseball_glove",
    "skateboard",
    "surfboard",
    "tennis_racket",
    "bottle",
    "wine_glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot_dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted_plant",
    "bed",
    "dining_table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell_phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy_bear",
    "hair_drier",
    "toothbrush",
];

/// Class names by class id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    names: Vec<String>,
}

impl Default for Labels {
    fn default() -> Self {
        Self::coco()
    }
}

impl Labels {
    pub fn coco() -> Self {
        Self {
            names: COCO80.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Parses a labels file: one name per line; blank lines and a trailing newline are
    /// ignored at the end only (a blank line in the middle would shift every later id, so it
    /// is an error).
    pub fn parse(text: &str) -> Result<Self, String> {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let used = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        if used == 0 {
            return Err("the file has no names".to_string());
        }
        if let Some(i) = lines[..used].iter().position(|l| l.is_empty()) {
            return Err(format!(
                "line {} is blank; every line up to the last name must hold one class name",
                i + 1
            ));
        }
        Ok(Self {
            names: lines[..used].iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Loads a labels file (one class name per line, in model output order).
    pub fn from_file(path: &Path) -> Result<Self, DetectError> {
        let err = |reason: String| DetectError::Labels {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    /// The COCO names when `path` is empty, else the file.
    pub fn from_config(path: &Path) -> Result<Self, DetectError> {
        if path.as_os_str().is_empty() {
            Ok(Self::coco())
        } else {
            Self::from_file(path)
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of class `id`; `class_<id>` for an id beyond the list (a model with more classes
    /// than its labels file still reports something usable).
    pub fn name(&self, id: usize) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("class_{id}"))
    }

    /// Class id of `name`, if listed.
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_names_match_reference_spelling() {
        let l = Labels::coco();
        assert_eq!(l.len(), 80);
        assert_eq!(l.name(0), "person");
        assert_eq!(l.name(9), "traffic_light");
        assert_eq!(l.name(60), "dining_table");
        assert_eq!(l.name(62), "tv");
        assert_eq!(l.name(79), "toothbrush");
        assert_eq!(l.name(80), "class_80");
        assert_eq!(l.id_of("person"), Some(0));
    }

    #[test]
    fn parse_labels_file() {
        let l = Labels::parse("cat\r\ndog\n\n").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.name(1), "dog");
        assert_eq!(
            Labels::parse("cat\n\ndog\n").unwrap_err(),
            "line 2 is blank; every line up to the last name must hold one class name"
        );
        assert_eq!(Labels::parse("\n \n").unwrap_err(), "the file has no names");
    }

    #[test]
    fn missing_labels_file_names_it() {
        let e = Labels::from_file(Path::new("/nonexistent/labels.txt")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/labels.txt"), "{msg}");
        assert_eq!(e.reason_code(), "model_load_failed");
    }
}
