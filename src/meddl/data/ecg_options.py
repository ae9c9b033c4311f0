"""Options of the ECG loaders (`meddl train mitdb -O key=value`), checked and typed in one frozen dataclass.

Values may come from the CLI as YAML scalars or strings ("0,1", "none", "true") or from Python as numbers, tuples and
booleans; anything else is a ConfigError naming the option, and an unknown option lists the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from meddl.errors import ConfigError

SPLIT_SCHEMES = ("inter-patient", "intra-patient")


@dataclass(frozen=True)
class EcgOptions:
    """How records become beats and splits (the `-O key=value` options of `meddl train`).

    The default window, 0.25 s before and 0.45 s after the R peak (252 samples at 360 Hz), spans the P wave and
    the T wave at ordinary heart rates. `leads` are signal indices (MIT-BIH: 0 = MLII, 1 = the chest lead);
    `bandpass` is (low, high) Hz or None; `normalise` z-scores each beat; `rr_features` adds pre-RR, post-RR,
    local RR and their ratio as `features` (on by default: with them the default CNN+LSTM, before the rhythm gate,
    scored inter-patient macro-F1 0.49-0.51 on MIT-BIH DS2, without them 0.43); `val_fraction` of the training
    records (inter-patient) or beats (intra-patient) is held out for validation; `test_fraction` applies where
    there is no official test set; `records` restricts loading to some record names. `morphology` (with
    `rr_features`) adds each beat's difference from its record's dominant beat, QRS size and width and its coarse
    shape (`meddl.data.ecg_features`) to the features.

    `rhythm_gate` (needs `rr_features`) makes the model decide N vs S from the patient-normalised RR intervals alone
    (`meddl.models.rhythm_gate`). By default (None) it is on for splits by patient and off for intra-patient ones:
    on MIT-BIH inter-patient (DS2) it raised the default CNN+LSTM's S sensitivity from 13% to 65-86% and macro-F1
    from 0.51 to 0.60-0.63 (seeds 0-2), while intra-patient, where the network has seen each test patient's S beats,
    it lowered macro-F1 from 0.939 to 0.863 (seed 0; S +P 95.8% -> 49.1%).
    """

    split: str = "inter-patient"
    before_s: float = 0.25
    after_s: float = 0.45
    leads: tuple[int, ...] = (0,)
    bandpass: tuple[float, float] | None = (0.5, 40.0)
    normalise: bool = True
    rr_features: bool = True
    morphology: bool = True
    rhythm_gate: bool | None = None
    include_q: bool = False
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    records: tuple[str, ...] = ()

    @classmethod
    def parse(cls, options: dict) -> EcgOptions:
        """Options from the CLI (YAML scalars or strings such as "0,1") or Python; ConfigError on anything else."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(f"unknown ECG option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}")
        values = {key: _COERCE[key](key, value) for key, value in options.items()}
        parsed = cls(**values)
        if parsed.split not in SPLIT_SCHEMES:
            raise ConfigError(f"option split={parsed.split!r}: expected one of {', '.join(SPLIT_SCHEMES)}")
        if parsed.before_s < 0 or parsed.after_s <= 0:
            raise ConfigError(f"options before_s={parsed.before_s}, after_s={parsed.after_s}: expected >= 0 and > 0")
        if parsed.morphology and not parsed.rr_features and "morphology" in options:
            raise ConfigError("option morphology=true needs rr_features=true: the morphology features extend the "
                              "RR features")
        if parsed.rhythm_gate and not parsed.rr_features:
            raise ConfigError("option rhythm_gate=true needs rr_features=true: the gate decides N vs S from the RR "
                              "intervals")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(parsed, name) < 1:
                raise ConfigError(f"option {name}={getattr(parsed, name)}: expected a fraction between 0 and 1")
        return parsed

    @property
    def use_rhythm_gate(self) -> bool:
        """The rhythm gate as asked, or by default for patients the model has not seen (any split but intra-patient)."""
        return self.rhythm_gate if self.rhythm_gate is not None else self.split != "intra-patient"

    @property
    def labels(self) -> tuple[str, ...]:
        return ("N", "S", "V", "F", "Q") if self.include_q else ("N", "S", "V", "F")


def _items(value) -> list:
    if isinstance(value, str):
        return [item.strip() for item in value.strip("[]()").split(",") if item.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _number(key: str, value) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {key}={value!r}: expected a number") from None


def _flag(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"option {key}={value!r}: expected true or false")


def _flag_or_auto(key: str, value) -> bool | None:
    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return None
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
        return _flag(key, value)
    raise ConfigError(f"option {key}={value!r}: expected true, false or auto")


def _leads(key: str, value) -> tuple[int, ...]:
    try:
        leads = tuple(int(item) for item in _items(value) if not isinstance(item, bool))
    except (TypeError, ValueError):
        leads = ()
    if not leads or min(leads) < 0 or len(set(leads)) != len(leads):
        raise ConfigError(f"option {key}={value!r}: expected distinct signal indices, e.g. 0 or 0,1")
    return leads


def _band(key: str, value) -> tuple[float, float] | None:
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("none", "off", "")):
        return None
    band = tuple(_number(key, item) for item in _items(value))
    if len(band) != 2:
        raise ConfigError(f"option {key}={value!r}: expected low,high in Hz (e.g. 0.5,40) or none")
    return band  # type: ignore[return-value]


_COERCE = {
    "split": lambda key, value: str(value), "before_s": _number, "after_s": _number, "leads": _leads,
    "bandpass": _band, "normalise": _flag, "rr_features": _flag, "morphology": _flag, "rhythm_gate": _flag_or_auto,
    "include_q": _flag,
    "val_fraction": _number, "test_fraction": _number,
    "records": lambda key, value: tuple(str(item) for item in _items(value)),
}  # fmt: skip
