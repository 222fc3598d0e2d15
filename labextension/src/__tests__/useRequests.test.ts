/**
 * The panel's request list follows the API's cursor: a researcher with more requests than one
 * page holds sees all of them (the list was once cut at 100).
 */
import * as React from 'react';
import TestRenderer, { act } from 'react-test-renderer';

import { api } from '../api';
import type { RequestList, RequestOut } from '../contract.gen';
import { followCursor } from '../logic/pages';
import { useRequests, type Requests } from '../panel/useRequests';

// The hook's only way out: the typed API (the server is not running in jest).
jest.mock('../api', () => ({ api: { requests: jest.fn(), request: jest.fn() } }));
const requestsApi = api.requests as jest.MockedFunction<typeof api.requests>;

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const req = (n: number) =>
  ({ id: `r${n}`, status: 'DRAFT', title: `request ${n}`, objects: [] }) as unknown as RequestOut;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => req(from + i));

/** The backend's pages of `total` requests, `size` a page, chained by opaque cursors. */
function pagesOf(
  total: number,
  size: number
): (params?: Record<string, string>, cursor?: string | null) => Promise<RequestList> {
  return async (_params, cursor) => {
    const start = cursor ? Number(cursor.slice(1)) : 0;
    const end = Math.min(start + size, total);
    return { items: range(start, end), next_cursor: end < total ? `c${end}` : null };
  };
}

let latest: Requests | undefined;
function Probe({ notify }: { notify: (e: unknown) => void }): null {
  latest = useRequests(true, notify);
  return null;
}

/** Let every settled promise (the mocked pages) run and React apply what they set. */
const settle = () =>
  act(async () => {
    await new Promise(resolve => setTimeout(resolve, 0));
  });

async function mount(notify: (e: unknown) => void = jest.fn()): Promise<TestRenderer.ReactTestRenderer> {
  let renderer: TestRenderer.ReactTestRenderer | undefined;
  await act(async () => {
    renderer = TestRenderer.create(React.createElement(Probe, { notify }));
  });
  await settle();
  return renderer!;
}

beforeEach(() => {
  requestsApi.mockReset();
  latest = undefined;
});

describe('useRequests', () => {
  it('reads every page: 250 requests over three pages of 100', async () => {
    requestsApi.mockImplementation(pagesOf(250, 100));
    const renderer = await mount();
    expect(latest!.requests.map(r => r.id)).toEqual(range(0, 250).map(r => r.id));
    expect(requestsApi.mock.calls).toEqual([
      [{ direction: 'egress' }, null],
      [{ direction: 'egress' }, 'c100'],
      [{ direction: 'egress' }, 'c200']
    ]);
    renderer.unmount();
  });

  it('a reload reads the whole list again, not only its first page', async () => {
    requestsApi.mockImplementation(pagesOf(150, 100));
    const renderer = await mount();
    requestsApi.mockImplementation(pagesOf(201, 100));
    await act(async () => latest!.reload());
    await settle();
    expect(latest!.requests).toHaveLength(201);
    renderer.unmount();
  });

  it('an older reload answering last does not put its stale list back', async () => {
    requestsApi.mockImplementation(pagesOf(1, 100));
    const renderer = await mount();
    let answerOld: (page: RequestList) => void = () => undefined;
    requestsApi.mockImplementationOnce(() => new Promise(resolve => (answerOld = resolve)));
    await act(async () => latest!.reload());
    requestsApi.mockImplementation(pagesOf(3, 100));
    await act(async () => latest!.reload());
    await settle();
    answerOld({ items: range(0, 1), next_cursor: null });
    await settle();
    expect(latest!.requests).toHaveLength(3);
    renderer.unmount();
  });

  it('a failed page is shown as a notice and keeps the list it had', async () => {
    requestsApi.mockImplementation(pagesOf(120, 100));
    const notify = jest.fn();
    const renderer = await mount(notify);
    const failure = new Error('backend down');
    requestsApi.mockImplementation(async (_p, cursor) => {
      if (cursor) {
        throw failure;
      }
      return { items: range(0, 100), next_cursor: 'c100' };
    });
    await act(async () => latest!.reload());
    await settle();
    expect(notify).toHaveBeenCalledWith(failure);
    expect(latest!.requests).toHaveLength(120);
    renderer.unmount();
  });

  it('upsert replaces a listed request in place and puts a new one first', async () => {
    requestsApi.mockImplementation(pagesOf(2, 100));
    const renderer = await mount();
    const changed = { ...req(1), title: 'renamed' };
    await act(async () => latest!.upsert(changed));
    await act(async () => latest!.upsert(req(9)));
    expect(latest!.requests.map(r => [r.id, r.title])).toEqual([
      ['r9', 'request 9'],
      ['r0', 'request 0'],
      ['r1', 'renamed']
    ]);
    renderer.unmount();
  });
});

describe('followCursor', () => {
  it('stops at a cursor it was already given instead of looping', async () => {
    const fetchPage = jest.fn(async (cursor: string | null) => ({ items: [cursor ?? 'first'], next_cursor: 'same' }));
    expect(await followCursor(fetchPage)).toEqual(['first', 'same']);
    expect(fetchPage).toHaveBeenCalledTimes(2);
  });
});
