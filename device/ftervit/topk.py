"""The k largest logits, in one pass that keeps only k indices.

One comparison per class for all but a few classes; no list of all classes
is built, so a 1000-class head costs no more than a k-entry list.
"""


def top_indices(logits, k):
    """Indices of the k largest values, largest first, ties to the lower index
    (the host's ftervit.reference.topk order)."""
    best = []
    for i in range(len(logits)):
        value = logits[i]
        if len(best) == k and value <= logits[best[-1]]:
            continue
        j = len(best)
        while j and logits[best[j - 1]] < value:   # equal values keep the earlier index
            j -= 1
        best.insert(j, i)
        if len(best) > k:
            best.pop()
    return best
