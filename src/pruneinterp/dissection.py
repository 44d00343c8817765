"""Network dissection (Bau et al. 2017).

For unit k of a layer:

* threshold ``T_k``: the ``1 - quantile`` (default 0.995) quantile of the unit's activations over all
  probe images and spatial positions (exact: every value is used);
* each activation map is upsampled bilinearly to the image's segmentation resolution and
  thresholded, ``M_k(x) = A_k(x) > T_k``;
* for every label c, over the whole probe set,
  ``IoU(k, c) = |M_k ∩ L_c| / (|M_k restricted to images where c's category is annotated| + |L_c| - |M_k ∩ L_c|)``
  (the original NetDissect rule: the activation term of the union only counts images whose
  annotation could have contained c). Image-level labels cover every pixel of their image;
* the unit's label is its best-IoU label; it is interpretable when that IoU exceeds the threshold.

Work is done in chunks of images, so memory is bounded by the chunk, not the probe size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .data.broden import Probe

RESULT_COLUMNS = ["layer", "unit", "label", "category", "iou", "threshold", "interpretable"]


@dataclass
class Dissection:
    iou: np.ndarray  # (units, labels)
    thresholds: np.ndarray  # (units,)
    labels: list[str]
    categories: list[str]  # category of each label

    def table(self, layer: str, iou_threshold: float) -> pd.DataFrame:
        best = self.iou.argmax(axis=1)
        best_iou = self.iou[np.arange(len(best)), best]
        return pd.DataFrame({
            "layer": layer,
            "unit": np.arange(len(best)),
            "label": [self.labels[b] for b in best],
            "category": [self.categories[b] for b in best],
            "iou": best_iou,
            "threshold": self.thresholds,
            "interpretable": best_iou > iou_threshold,
        }, columns=RESULT_COLUMNS)


def unit_thresholds(acts: np.ndarray, quantile: float) -> np.ndarray:
    """Exact per-unit threshold T_k with P(a_k > T_k) = quantile over images and positions."""
    a = torch.from_numpy(np.ascontiguousarray(acts))
    flat = a.transpose(0, 1).reshape(a.shape[1], -1)
    # torch.quantile is limited to 2**24 elements per row; numpy has no such limit
    if flat.shape[1] <= 2**24:
        return torch.quantile(flat.double(), 1.0 - quantile, dim=1).numpy()
    return np.quantile(flat.numpy(), 1.0 - quantile, axis=1)


def dissect_layer(acts: "np.ndarray | object", probe: Probe, image_index: np.ndarray, quantile: float = 0.005,
                  chunk: int = 256, device: str = "cpu") -> Dissection:
    """Dissect one layer. ``acts`` is (N, C, H, W) (an h5py dataset works: it is read per chunk
    except for the threshold pass); row i belongs to probe image ``image_index[i]``."""
    n, units = acts.shape[0], acts.shape[1]
    if len(acts.shape) != 4:
        raise ValueError(f"dissection needs conv activations (N, C, H, W), got shape {acts.shape}")
    thresholds = unit_thresholds(acts[:], quantile)
    t = torch.from_numpy(thresholds).float().to(device).view(1, -1, 1)
    n_labels, n_cats = len(probe.labels), len(probe.categories)
    inter = torch.zeros(units, n_labels, dtype=torch.float64, device=device)
    label_px = torch.zeros(n_labels, dtype=torch.float64, device=device)
    act_in_cat = torch.zeros(units, n_cats, dtype=torch.float64, device=device)
    sizes = probe.index.loc[image_index, ["sh", "sw"]].to_numpy()
    for (sh, sw) in sorted({tuple(s) for s in sizes}):
        rows = np.flatnonzero((sizes[:, 0] == sh) & (sizes[:, 1] == sw))
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            contiguous = r[-1] - r[0] + 1 == len(r)
            a = torch.from_numpy(np.asarray(acts[r[0]:r[-1] + 1] if contiguous else acts[r]))
            up = F.interpolate(a.float().to(device), size=(sh, sw), mode="bilinear", align_corners=False)
            mask = (up.flatten(2) > t).float()  # (n, C, P)
            lab, annotated = probe.label_masks(image_index[r])
            lab_t = torch.from_numpy(lab).to(device).float()  # (n, P, L)
            inter += torch.einsum("ncp,npl->cl", mask, lab_t).double()
            label_px += lab_t.sum(dim=(0, 1)).double()
            act_in_cat += (mask.sum(2).T @ torch.from_numpy(annotated).float().to(device)).double()
    label_cat = torch.from_numpy(probe.label_category).to(device)
    act_term = act_in_cat[:, label_cat.clamp(min=0)]
    act_term[:, label_cat < 0] = 0.0
    union = act_term + label_px.view(1, -1) - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    return Dissection(
        iou=iou.cpu().numpy(),
        thresholds=thresholds,
        labels=[lab.name for lab in probe.labels],
        categories=[lab.category for lab in probe.labels],
    )
