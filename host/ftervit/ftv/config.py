"""The model config block: CONFIG_FIELDS values <-> a checked dict and a Geometry."""
from typing import Dict, Sequence

from ..deploy_plan import Geometry
from .errors import FtvFormatError
from .spec import CONFIG_FIELDS

GEOMETRY_FIELDS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads",
                   "mlp_dim", "num_classes", "cls_pos", "layerscale")


def check_config(values: Sequence[int]) -> Dict[str, int]:
    """Name the values in CONFIG_FIELDS order and check each; returns the dict."""
    if len(values) != len(CONFIG_FIELDS):
        raise FtvFormatError(f"config_count: expected {len(CONFIG_FIELDS)} config fields, "
                             f"found {len(values)}")
    config = {}
    for field, value in zip(CONFIG_FIELDS, values):
        if not isinstance(value, int) or isinstance(value, bool):
            raise FtvFormatError(f"config.{field.name}: expected an int, found {value!r}")
        if not field.low <= value <= field.high:
            raise FtvFormatError(f"config.{field.name}: expected {field.low}..{field.high} "
                                 f"({field.doc}), found {value}")
        config[field.name] = value
    if config["embed_dim"] % config["num_heads"]:
        raise FtvFormatError(f"config.num_heads: expected a divisor of embed_dim "
                             f"{config['embed_dim']}, found {config['num_heads']}")
    if config["img_size"] % config["patch_size"]:
        raise FtvFormatError(f"config.patch_size: expected a divisor of img_size "
                             f"{config['img_size']}, found {config['patch_size']}")
    return config


def geometry_of(config: Dict[str, int]) -> Geometry:
    kw = {k: config[k] for k in GEOMETRY_FIELDS}
    kw["cls_pos"], kw["layerscale"] = bool(kw["cls_pos"]), bool(kw["layerscale"])
    return Geometry(**kw)


def config_values(geometry: Geometry, layout: int, attn_logit_mult: int,
                  residual_frac_bits: int, arith_version: int) -> Dict[str, int]:
    """The checked config dict for a writer call."""
    given = {k: getattr(geometry, k) for k in GEOMETRY_FIELDS}
    given.update(arith_version=arith_version, layout=layout, attn_logit_mult=attn_logit_mult,
                 residual_frac_bits=residual_frac_bits)
    values = []
    for field in CONFIG_FIELDS:
        v = given[field.name]
        values.append(int(v) if isinstance(v, bool) or _is_int(v) else v)
    return check_config(values)


def _is_int(v) -> bool:
    try:
        return int(v) == v and not isinstance(v, float)
    except (TypeError, ValueError):
        return False
