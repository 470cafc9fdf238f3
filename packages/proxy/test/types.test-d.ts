import type { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'
import { expectTypeOf, test } from 'vitest'

interface Ctx {
  started: number
}

test('Ctx flows from newCtx into every phase', () => {
  const app = {
    newCtx: () => ({ started: 0 }),
    upstreamPeer(_session: Session, ctx: Ctx): HttpPeer {
      expectTypeOf(ctx).toEqualTypeOf<Ctx>()
      throw new Error('unused')
    },
    requestFilter(_session: Session, ctx: Ctx) {
      expectTypeOf(ctx.started).toBeNumber()
      return false
    },
    logging(_session: Session, error: PingoraError | undefined, ctx: Ctx) {
      expectTypeOf(error).toEqualTypeOf<PingoraError | undefined>()
      expectTypeOf(ctx).toEqualTypeOf<Ctx>()
    },
  } satisfies ProxyHttp<Ctx>
  expectTypeOf(app.newCtx()).toEqualTypeOf<{ started: number }>()
})

test('phases may return values or promises; body filters are synchronous', () => {
  const ok: ProxyHttp<undefined> = {
    newCtx: () => undefined,
    upstreamPeer: async () => {
      throw new Error('unused')
    },
    requestFilter: async () => true,
    proxyUpstreamFilter: () => true,
    responseBodyFilter: (_s, body) => body,
  }
  expectTypeOf(ok).toExtend<ProxyHttp<undefined>>()

  const wrongReturn = {
    newCtx: () => undefined,
    upstreamPeer: () => {
      throw new Error('unused')
    },
    // @ts-expect-error requestFilter must return a boolean (or a promise of one)
    requestFilter: () => 'yes',
  } satisfies ProxyHttp<undefined>
  expectTypeOf(wrongReturn).not.toBeAny()

  const asyncBodyFilter = {
    newCtx: () => undefined,
    upstreamPeer: () => {
      throw new Error('unused')
    },
    // @ts-expect-error response body filters are synchronous (hot path)
    responseBodyFilter: async (_s: Session, body: Uint8Array | undefined) => body,
  } satisfies ProxyHttp<undefined>
  expectTypeOf(asyncBodyFilter).not.toBeAny()
})
