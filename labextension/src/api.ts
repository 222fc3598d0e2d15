/** Typed calls the panel makes; each is one requestAPI call (see request.ts). */
import type { ObjectOut, RequestOut } from './contract.gen';
import type { InboxFile, MetadataForm, Statbarn, TaggedOutput, VersionInfo } from './logic/types';
import { requestAPI, requestRaw } from './request';

const enc = encodeURIComponent;
const json = (method: string, body?: unknown): RequestInit => ({
  method,
  body: body === undefined ? undefined : JSON.stringify(body)
});

export const api = {
  version: () => requestAPI<VersionInfo>('version'),
  outputs: () => requestAPI<{ items: TaggedOutput[] }>('outputs').then(r => r.items),
  tagOutput: (body: unknown) => requestAPI<TaggedOutput>('outputs', json('POST', body)),
  inbox: () => requestAPI<{ items: InboxFile[]; inbox_dir: string }>('inbox'),
  deliverInbox: () =>
    requestAPI<{ results: Array<{ status: string; filename: string; detail?: string }>; items: InboxFile[] }>(
      'inbox',
      json('POST')
    ),
  statbarns: () => requestAPI<{ items: Statbarn[] }>('api/statbarns').then(r => r.items),
  me: () => requestAPI<{ username: string; memberships: Array<{ project: string; role: string }> }>('api/users/me'),
  projects: () =>
    requestAPI<{ items: Array<{ id: string; name: string; my_role?: string }> }>('api/projects').then(
      r => r.items
    ),
  requests: (params: Record<string, string> = {}) => {
    const q = new URLSearchParams({ limit: '100', ...params }).toString();
    return requestAPI<{ items: RequestOut[]; next_cursor: string | null }>(`api/requests?${q}`).then(
      r => r.items
    );
  },
  request: (rid: string) => requestAPI<RequestOut>(`api/requests/${enc(rid)}`),
  createRequest: (body: { project: string; title: string; description: string }) =>
    requestAPI<RequestOut>('api/requests', json('POST', { direction: 'egress', ...body })),
  transition: (rid: string, action: 'submit' | 'withdraw' | 'resubmit') =>
    requestAPI<RequestOut>(`api/requests/${enc(rid)}/${action}`, json('POST', {})),
  addOutput: (rid: string, outputId: string, replaces?: string) =>
    requestAPI<ObjectOut>(
      `requests/${enc(rid)}/outputs/${enc(outputId)}` + (replaces ? `?replaces=${enc(replaces)}` : ''),
      json('POST')
    ),
  setMetadata: (rid: string, oid: string, form: Partial<MetadataForm>) =>
    requestAPI<ObjectOut>(`api/requests/${enc(rid)}/objects/${enc(oid)}/metadata`, json('PUT', form)),
  lineage: (rid: string, oid: string) =>
    requestAPI<{ items: ObjectOut[] } | ObjectOut[]>(
      `api/requests/${enc(rid)}/objects/${enc(oid)}/lineage`
    ).then(r => (Array.isArray(r) ? r : r.items)),
  report: (rid: string) => requestAPI<Record<string, any>>(`api/requests/${enc(rid)}/report`),
  reviews: (rid: string) =>
    requestAPI<{ items: any[] } | any[]>(`api/requests/${enc(rid)}/reviews`).then(r =>
      Array.isArray(r) ? r : r.items
    ),
  release: (rid: string) =>
    requestAPI<{ url: string; expires_at: string; sha256: string; size: number }>(
      `api/requests/${enc(rid)}/release`
    ),
  /** The object's bytes through the proxy, as a blob URL the browser can open. */
  contentBlobUrl: async (rid: string, oid: string): Promise<string> => {
    const r = await requestRaw(`api/requests/${enc(rid)}/objects/${enc(oid)}/content`);
    return URL.createObjectURL(await r.blob());
  }
};
