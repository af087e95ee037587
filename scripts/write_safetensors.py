#!/usr/bin/python3
"""Write PyTorch state dicts as safetensors files, by hand.

The `safetensors` package is not in Debian; the format is simple enough to
write directly (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length N, N bytes of JSON (padded with spaces to a
multiple of 8) mapping each tensor name to {"dtype", "shape",
"data_offsets": [begin, end]} within the data that follows, then the
tensors' raw little-endian bytes, one after another.

Uses (python3-torch, python3-torchvision):
  write_safetensors.py --from model.pth --out model.safetensors
      converts a state dict saved with torch.save
  write_safetensors.py --model resnet50 --seed 0 --out DIR [--timm-head]
      writes DIR/resnet50.safetensors and the same state as DIR/resnet50.pth
      (torchvision's ResNet-50, randomly initialized with the seed); with
      --timm-head the classifier is written as head.fc.* as some timm
      models name it. nn/safetensors_test.go runs this to check that Go
      loads the .safetensors file to the same values as the .pth file.
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
    torch.int32: "I32", torch.int64: "I64", torch.float16: "F16",
    torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)  # numpy has no bfloat16
    return t.numpy().tobytes()


def write(state, path, metadata=None):
    """Write the dict of name -> tensor as a safetensors file at path."""
    assert sys.byteorder == "little", "numpy writes native byte order"
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in state.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", help="a state dict saved with torch.save")
    ap.add_argument("--model", help="a torchvision model name (e.g. resnet50), randomly initialized")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timm-head", action="store_true", help="name the classifier head.fc.* (timm)")
    ap.add_argument("--out", required=True, help="output file (--from) or folder (--model)")
    a = ap.parse_args()
    if a.src:
        state = torch.load(a.src, map_location="cpu")
        write(state, a.out, {"format": "pt"})
        return
    if not a.model:
        ap.error("give --from FILE or --model NAME")
    import torchvision
    torch.manual_seed(a.seed)
    model = getattr(torchvision.models, a.model)()
    state = model.state_dict()
    # Non-trivial batch-norm statistics, so that loading them is checked.
    for k, v in state.items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            v.copy_(torch.rand_like(v) + 0.5)
    torch.save(state, os.path.join(a.out, a.model + ".pth"))
    if a.timm_head:
        state = {("head." + k if k.startswith("fc.") else k): v for k, v in state.items()}
    write(state, os.path.join(a.out, a.model + ".safetensors"), {"format": "pt"})


if __name__ == "__main__":
    main()
