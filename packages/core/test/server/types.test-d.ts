import { expectTypeOf, test } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import type { ServerApp } from '../../src/apps/server-app.ts'
import type { Stream } from '../../src/protocols/l4/stream.ts'
import { backgroundService, type GenBackgroundService } from '../../src/services/background.ts'
import { ListeningService } from '../../src/services/listening.ts'

test('a listening service keeps the type of its app', () => {
  class Hello implements ServeHttp {
    greeting = 'hi'
    response() {
      return { status: 200, body: this.greeting }
    }
  }
  const service = new ListeningService('hello', new HttpServer(new Hello()))
  expectTypeOf(service.appLogic).toEqualTypeOf<HttpServer<Hello>>()
  expectTypeOf(service.appLogic.app.greeting).toBeString()
})

test('background services keep the type of their task', () => {
  const task = { start: async (_shutdown: AbortSignal) => {}, hits: 0 }
  const service = backgroundService('counter', task)
  expectTypeOf(service).toEqualTypeOf<GenBackgroundService<typeof task>>()
  expectTypeOf(service.task.hits).toBeNumber()
})

test('apps must return a stream or undefined', () => {
  const good = {
    processNew: async (stream: Stream) => stream,
  } satisfies ServerApp
  expectTypeOf(good).toExtend<ServerApp>()
  const bad = { processNewHttp: async () => 'done' }
  expectTypeOf(bad).not.toExtend<HttpServerApp>()
  const sync: ServeHttp = { response: () => ({ status: 204 }) }
  const async: ServeHttp = { response: async () => ({ status: 200, body: new Uint8Array(1) }) }
  expectTypeOf([sync, async]).toExtend<ServeHttp[]>()
})
