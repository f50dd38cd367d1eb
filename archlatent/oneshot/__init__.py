"""One-shot (weight-sharing) NAS: supernets, standalone networks, path samplers, training loops, image data.

- `archlatent.oneshot.nets`: candidate ops, the NB201 and DARTS networks and supernets, registered by
  space name in `NETWORKS` and `SUPERNETS` (`standalone_network`, `build_supernet`).
- `archlatent.oneshot.samplers`: what each supernet step trains, registered in `SAMPLERS`
  (``uniform`` = SPOS, ``ddas``).
- `archlatent.oneshot.train`: the single-path supernet loop; `archlatent.oneshot.final`: standalone
  training with each space's published recipe, checkpointed and resumable.
- `archlatent.oneshot.data`: image datasets registered in `DATASETS` and an on-device loader.
- `archlatent.oneshot.runtime` (device, mixed precision, optimizer step) and
  `archlatent.oneshot.checkpoints` (atomic saves, checked loads, supernet checkpoints).

The library reports progress through callbacks and never draws; bars and figures live in the CLI
(`archlatent.commands.supernet`) and `archlatent.plots`.
"""
