/** The checker's queue is read whole: a queue longer than a page still counts every request. */
import type { ReviewQueue } from '../contract.gen';
import { requestAPI } from '../request';
import { reviewApi } from '../review/api';

jest.mock('../request', () => ({ requestAPI: jest.fn(), requestRaw: jest.fn() }));
const call = requestAPI as jest.MockedFunction<typeof requestAPI>;

const item = (n: number) => ({ request: { id: `r${n}` } }) as unknown as ReviewQueue['items'][number];

describe('reviewApi.queue', () => {
  it('follows next_cursor until the last page', async () => {
    const pages: Record<string, ReviewQueue> = {
      '': { items: [item(0), item(1)], next_cursor: 'p2' },
      p2: { items: [item(2)], next_cursor: 'p3' },
      p3: { items: [item(3)], next_cursor: null }
    };
    call.mockImplementation(async (endPoint?: string) => {
      const q = new URLSearchParams((endPoint ?? '').split('?')[1]);
      expect(q.get('limit')).toBe('100');
      return pages[q.get('cursor') ?? ''] as never;
    });
    const items = await reviewApi.queue();
    expect(items.map(i => i.request.id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(call).toHaveBeenCalledTimes(3);
  });
});
