"""Timing shared by the benchmark scripts."""
import time


def best_time(fn, repeat: int = 2) -> float:
    """The best wall time of ``repeat`` calls (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_times(fns, repeat: int = 3):
    """The best wall time of each function over ``repeat`` interleaved rounds (one call of each per round), so
    that a slow spell of the machine does not fall on one of them only."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def paired_ratio(base, fn, repeat: int = 3):
    """``fn``'s cost as a ratio to ``base``'s, robust to the machine's speed drifting (shared CPUs slow down and
    speed up over tens of seconds, and a long ``fn`` against the best of short ``base`` calls would read the
    drift as cost): per round ``base``, ``fn``, ``base``, the round's ratio is ``fn``'s time over the mean of the
    two ``base`` times around it; returns the medians (base time, fn time, ratio) over ``repeat`` rounds."""
    import statistics

    bases, times, ratios = [], [], []
    for _ in range(repeat):
        t = []
        for f in (base, fn, base):
            start = time.perf_counter()
            f()
            t.append(time.perf_counter() - start)
        bases.append((t[0] + t[2]) / 2)
        times.append(t[1])
        ratios.append(t[1] / bases[-1])
    return statistics.median(bases), statistics.median(times), statistics.median(ratios)


#: mining cost targets (issue "ymir_sdk.mining"), as a ratio to the plain batched forward pass
MINING_TARGETS = {"entropy": 1.1, "aldd": 1.3, "cald": 5.5}


def report_mining(header: str, images, detector, batch_size: int, num_classes: int = 2,
                  algorithms=("random", "entropy", "aldd", "cald")) -> None:
    """Time the plain batched forward pass of ``detector`` (a :class:`ymir_sdk.loops.detection.Detector`) over
    ``images`` in batches (after a warm-up) and each mining algorithm of ``ymir_sdk.mining`` on the same images;
    print images/s and each algorithm's ratio to the forward passes around it (:func:`paired_ratio`) with its
    target (``algorithms``: those the executor offers; the others are said to be not offered)."""
    batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]

    def forward(batch, heads=False):
        return detector.detect([detector.prepare(im) for im in batch], heads=heads)

    def detect_images(batch):
        return detector.detect_images(batch, batch_size)

    from ymir_sdk.mining import aldd_scores, cald_scores, entropy_scores, random_scores

    n_images = sum(len(b) for b in batches)
    runs = {
        "forward": lambda: [forward(b) for b in batches],
        "random": lambda: random_scores([f"/in/{i}.png" for i in range(n_images)]),
        "entropy": lambda: [entropy_scores(forward(b)[0], num_classes) for b in batches],
        "aldd": lambda: [aldd_scores(forward(b, heads=True)[1]) for b in batches],
        "cald": lambda: [cald_scores(b, forward(b)[0], detect_images, num_classes) for b in batches],
    }
    runs["forward"]()  # warm-up
    base = best_time(runs["forward"])
    print(header)
    print(f"inference: {n_images / base:.2f} images/s ({base / n_images * 1000:.0f} ms/image)")
    for name in ("random", "entropy", "aldd", "cald"):
        if name not in algorithms:
            print(f"{name:8s} not offered by the executor")
            continue
        try:
            _, t, ratio = paired_ratio(runs["forward"], runs[name], 2)
        except Exception as e:  # noqa: BLE001 - e.g. aldd on a head without objectness: say so, go on
            print(f"{name:8s} not available: {str(e).splitlines()[0]}")
            continue
        target = MINING_TARGETS.get(name)
        verdict = f"  target <= {target}x: {'met' if ratio <= target else 'NOT met'}" if target else ""
        print(f"{name:8s} {t:.3f} s  {ratio:.2f}x forward{verdict}")


def report_semantic_mining(header: str, images, segmenter, batch_size: int, num_classes: int,
                           algorithms=("random", "rsal", "ripu")) -> None:
    """Time the plain batched segmentation of ``segmenter`` (a :class:`ymir_sdk.loops.segmentation.Segmenter`,
    label maps at the images' sizes: what inference does) and each semantic mining algorithm on the same images
    as the SDK's loop runs them (class probabilities at ``MINING_SIDE``, then RSAL's superpixel regions and pool
    step, or RIPU); print images/s and each algorithm's ratio to the segmentation passes around it."""
    from ymir_sdk.loops.segmentation import MINING_SIDE
    from ymir_sdk.mining import random_scores, ripu_scores, rsal_regions, rsal_scores

    batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    prepared = [[segmenter.prepare(im) for im in b] for b in batches]
    rgb = [[segmenter.rgb(im) for im in b] for b in batches]
    n_images = len(images)

    def rsal():
        regions = [rsal_regions(p, im, "slico", 1024) for b, ims in zip(prepared, rgb)
                   for p, im in zip(segmenter.probabilities(b, MINING_SIDE), ims)]
        return rsal_scores(regions, num_classes)

    runs = {
        "forward": lambda: [segmenter.labels(b) for b in prepared],
        "random": lambda: random_scores([f"/in/{i}.png" for i in range(n_images)]),
        "rsal": rsal,
        "ripu": lambda: [ripu_scores(segmenter.probabilities(b, MINING_SIDE), 1, 3) for b in prepared],
    }
    runs["forward"]()  # warm-up
    base = best_time(runs["forward"])
    print(header)
    print(f"inference: {n_images / base:.2f} images/s ({base / n_images * 1000:.0f} ms/image)")
    for name in ("random", "rsal", "ripu"):
        if name in algorithms:
            _, t, ratio = paired_ratio(runs["forward"], runs[name], 2)
            print(f"{name:8s} {t:.3f} s  {ratio:.2f}x forward")
