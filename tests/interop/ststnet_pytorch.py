#!/usr/bin/env python3
"""PyTorch side of mer's interop test (tests/interop/test_pytorch_interop.cpp).

A PyTorch STSTNet with the layout of the authors' official code (c1..c3, bn1..bn3, fc), and two
checks run by the C++ test with Debian's /usr/bin/python3 (python3-torch):

  check WEIGHTS CASE [PEER]
                       torch.load the state_dict mer exported, load it into the PyTorch model
                       (strict: every name and shape) and compare its logits on CASE's input
                       with the logits mer computed (CASE: a dict with "input" and "logits");
                       exit 0 if they agree within 1e-5. With PEER (a .py file defining
                       STSTNet(classes), e.g. the reference peer in ../shared/peers), that
                       file's model instead of the one here.
  write DIR            a PyTorch STSTNet with trained-like batch-norm statistics saved as
                       DIR/zip.pth (torch.save's default format), DIR/legacy.pth
                       (_use_new_zipfile_serialization=False) and DIR/case.pth (input, logits).
"""
import importlib.util
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

TOLERANCE = 1e-5


class STSTNet(nn.Module):
    def __init__(self, num_classes=3, input_size=28):
        super().__init__()
        for i, width in enumerate((3, 5, 8), start=1):
            setattr(self, f"c{i}", nn.Conv2d(3, width, kernel_size=3, padding=2))
        for i, width in enumerate((3, 5, 8), start=1):
            setattr(self, f"bn{i}", nn.BatchNorm2d(width))
        pooled = (input_size + 2 + 2 - 3) // 3 + 1
        side = pooled // 2
        self.fc = nn.Linear(16 * side * side, num_classes)

    def forward(self, x):
        streams = []
        for conv, bn in ((self.c1, self.bn1), (self.c2, self.bn2), (self.c3, self.bn3)):
            y = bn(F.relu(conv(x)))
            y = F.max_pool2d(y, kernel_size=3, stride=3, padding=1)
            streams.append(F.dropout(y, 0.5, self.training))
        y = F.avg_pool2d(torch.cat(streams, 1), kernel_size=2, stride=2)
        return self.fc(y.flatten(1))


def peer_model(path, num_classes):
    # The peer reads images with OpenCV in its training code only: a stand-in module lets its
    # model class load where python3-opencv is absent.
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))
    spec = importlib.util.spec_from_file_location("peer_ststnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STSTNet(num_classes)


def check(weights_path, case_path, peer=None):
    state = torch.load(weights_path)
    case = torch.load(case_path)
    x, expected = case["input"], case["logits"]
    num_classes = state["fc.weight"].shape[0]
    if peer:
        net = peer_model(peer, num_classes)
    else:
        net = STSTNet(num_classes=num_classes, input_size=x.shape[-1])
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        logits = net(x)
    diff = (logits - expected).abs().max().item()
    print(f"max_abs_diff={diff:.3g} tensors={len(state)}")
    return 0 if diff <= TOLERANCE else 1


def write(out_dir):
    torch.manual_seed(7)
    net = STSTNet()
    net.train()
    with torch.no_grad():  # batch-norm statistics and num_batches_tracked as after training
        for _ in range(3):
            net(torch.rand(16, 3, 28, 28) * 255)
    net.eval()
    x = torch.rand(5, 3, 28, 28) * 255
    with torch.no_grad():
        logits = net(x)
    torch.save(net.state_dict(), f"{out_dir}/zip.pth")
    torch.save(net.state_dict(), f"{out_dir}/legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"input": x, "logits": logits}, f"{out_dir}/case.pth")
    print(f"wrote {len(net.state_dict())} tensors")
    return 0


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        sys.exit(write(sys.argv[2]))
    sys.exit(__doc__)
