/**
 * Reading a whole list from the backend's cursor-paginated endpoints: pages are fetched until
 * `next_cursor` is null, so a list is never cut at the page size.
 */

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export async function followCursor<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  for (;;) {
    const page: Page<T> = await fetchPage(cursor);
    items.push(...page.items);
    const next = page.next_cursor ?? null;
    // A cursor seen before would loop forever; the backend never sends one, so stop rather than hang.
    if (next === null || seen.has(next)) {
      return items;
    }
    seen.add(next);
    cursor = next;
  }
}
