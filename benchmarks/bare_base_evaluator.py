"""Write the bare base model as an evaluator: the base GGUF's weights byte for byte, with an evaluator's
manifest (template, label tokens, systems) and no adapter, biases or heads. What `adapt --from` needs to
measure adaptation from a model that never saw any value system's labels (ValueCSV included).

    python benchmarks/bare_base_evaluator.py [EVALUATOR.gguf] OUT.gguf    # default: the embedded default's manifest
"""
import dataclasses
import sys
from pathlib import Path

from clave_lite.build.default_model import default_evaluator_path
from clave_lite.build.ggufio import copy_with_strings
from clave_lite.formats.base_models import base_path
from clave_lite.formats.manifest import FORMAT_KEY, FORMAT_VERSION, MANIFEST_KEY, read_gguf_manifest

src = Path(sys.argv[1]) if len(sys.argv) > 2 else default_evaluator_path()
out = Path(sys.argv[-1])
m = read_gguf_manifest(src)
bare = dataclasses.replace(m, biases={}, heads={}, temperatures={},
                           training={"bare_base": True, "manifest_from": src.name})
base = base_path(m.base_model["name"])
copy_with_strings(base, out, {MANIFEST_KEY: bare.to_json(), FORMAT_KEY: str(FORMAT_VERSION)})
read_gguf_manifest(out)
print("wrote", out, "from", base)
