/**
 * Blinding in the review view. The API already hides another checker's review of an open round
 * until the caller has submitted theirs; the view adds nothing that would let a checker infer
 * it either: before their own review of the current revision is in, it shows no review of that
 * revision at all (not even a count of hidden ones).
 */
import type { ReviewList, ReviewOut } from '../contract.gen';

export interface ReviewsShown {
  /** The caller's own review of the current revision, when submitted. */
  mine: ReviewOut | null;
  /** Other checkers' reviews the caller may see now (current revision after their own, and
   * earlier, decided revisions), newest revision first. */
  others: ReviewOut[];
}

export function reviewsToShow(list: ReviewList | null | undefined, revision: number): ReviewsShown {
  if (!list) {
    return { mine: null, others: [] };
  }
  const mine = list.items.find(r => r.mine && r.revision === revision) ?? null;
  const others = list.items
    .filter(r => !r.mine)
    .filter(r => r.revision !== revision || mine !== null)
    .sort((a, b) => b.revision - a.revision);
  return { mine, others };
}
