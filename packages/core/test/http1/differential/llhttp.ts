// llhttp, the parser of Node's `http` module, as the reference of the differential fuzzer: the
// WebAssembly build that undici ships (`undici/lib/llhttp/llhttp-wasm.js`), driven directly
// with strict (non-lenient) settings, as node:http runs it by default.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

// The WebAssembly global, typed for what is used here (the project's lib has no DOM types).
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: unknown }
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

/** One message llhttp completed. */
export interface ReferenceMessage {
  method: string
  target: string
  version: string
  status: number
  headers: [string, string][]
  body: Buffer
  keepAlive: boolean
}

/** What llhttp made of some input. */
export interface ReferenceOutcome {
  /** Messages completed, in order (up to and including one that closes the connection). */
  messages: ReferenceMessage[]
  /** The llhttp error name, or `undefined` when the input was valid so far. */
  error: string | undefined
  /** The reason llhttp gives for the error. */
  reason: string
}

const ERROR_OK = 0
const ERROR_PAUSED_UPGRADE = 22

interface Exports {
  memory: { buffer: ArrayBuffer }
  malloc(size: number): number
  free(ptr: number): void
  llhttp_alloc(type: number): number
  llhttp_free(ptr: number): void
  llhttp_execute(ptr: number, data: number, length: number): number
  llhttp_finish(ptr: number): number
  llhttp_get_method(ptr: number): number
  llhttp_method_name(method: number): number
  llhttp_get_http_major(ptr: number): number
  llhttp_get_http_minor(ptr: number): number
  llhttp_get_status_code(ptr: number): number
  llhttp_should_keep_alive(ptr: number): number
  llhttp_get_errno(ptr: number): number
  llhttp_errno_name(errno: number): number
  llhttp_get_error_reason(ptr: number): number
}

/** The message being assembled, and the ones completed, of the parse in progress. */
class Collector {
  messages: ReferenceMessage[] = []
  url: Buffer[] = []
  names: string[] = []
  values: string[] = []
  body: Buffer[] = []
  lastWasValue = false
  field = ''
  value = ''
  stop = false
  /** Response mode: the methods of the requests, to skip the body of a HEAD response. */
  methods: readonly string[] = []
  /** Response mode: final (non-1xx) responses completed so far. */
  finals = 0
}

let current: Collector | undefined
let memoryBytes: Uint8Array = new Uint8Array(0)
let llhttp: Exports | undefined

function bytesAt(at: number, length: number): Buffer {
  return Buffer.from((llhttp as Exports).memory.buffer, at, length)
}

function flushField(c: Collector): void {
  if (c.lastWasValue) {
    c.names.push(c.field)
    c.values.push(c.value)
    c.field = ''
    c.value = ''
    c.lastWasValue = false
  }
}

function cString(ptr: number): string {
  const memory = new Uint8Array((llhttp as Exports).memory.buffer)
  let end = ptr
  while (memory[end] !== 0) end++
  return Buffer.from(memory.buffer, ptr, end - ptr).toString('latin1')
}

function instance(): Exports {
  if (llhttp !== undefined) return llhttp
  const wasm = require('undici/lib/llhttp/llhttp-wasm.js') as Buffer
  const module = new wasmApi.Module(wasm)
  const env = {
    wasm_on_message_begin: (): number => {
      const c = current as Collector
      c.url = []
      c.names = []
      c.values = []
      c.body = []
      c.field = ''
      c.value = ''
      c.lastWasValue = false
      return 0
    },
    wasm_on_url: (_p: number, at: number, length: number): number => {
      ;(current as Collector).url.push(Buffer.from(bytesAt(at, length)))
      return 0
    },
    wasm_on_status: (): number => 0,
    wasm_on_header_field: (_p: number, at: number, length: number): number => {
      const c = current as Collector
      flushField(c)
      c.field += bytesAt(at, length).toString('latin1')
      return 0
    },
    wasm_on_header_value: (_p: number, at: number, length: number): number => {
      const c = current as Collector
      c.value += bytesAt(at, length).toString('latin1')
      c.lastWasValue = true
      return 0
    },
    wasm_on_headers_complete: (p: number): number => {
      const c = current as Collector
      if (c.field !== '' || c.lastWasValue) {
        c.lastWasValue = true
        flushField(c)
      }
      // As node:http's client does: 1 tells llhttp that the response to a HEAD has no body.
      const status = (llhttp as Exports).llhttp_get_status_code(p)
      return status >= 200 && c.methods[c.finals] === 'HEAD' ? 1 : 0
    },
    wasm_on_body: (_p: number, at: number, length: number): number => {
      ;(current as Collector).body.push(Buffer.from(bytesAt(at, length)))
      return 0
    },
    wasm_on_message_complete: (p: number): number => {
      const c = current as Collector
      const x = llhttp as Exports
      const method = x.llhttp_get_method(p)
      c.messages.push({
        method: cString(x.llhttp_method_name(method)),
        target: Buffer.concat(c.url).toString('latin1'),
        version: `HTTP/${x.llhttp_get_http_major(p)}.${x.llhttp_get_http_minor(p)}`,
        status: x.llhttp_get_status_code(p),
        headers: c.names.map((name, i) => [name, c.values[i] as string]),
        body: Buffer.concat(c.body),
        keepAlive: x.llhttp_should_keep_alive(p) === 1,
      })
      if (x.llhttp_get_status_code(p) >= 200) c.finals++
      return 0
    },
  }
  const created = new wasmApi.Instance(module, { env })
  llhttp = created.exports as unknown as Exports
  memoryBytes = new Uint8Array(llhttp.memory.buffer)
  return llhttp
}

/**
 * Parses `pieces` (fed one `execute` call each) as HTTP/1 requests or responses with llhttp.
 * @param kind - `request` or `response`
 * @param pieces - the input, split as it would arrive
 * @param finish - whether the input ends there (the peer closed): llhttp then ends a
 *   close-delimited response body
 * @param methods - response mode: the methods of the requests answered, in order (the
 *   response to a HEAD has no body)
 */
export function llhttpParse(
  kind: 'request' | 'response',
  pieces: readonly Buffer[],
  finish = false,
  methods: readonly string[] = [],
): ReferenceOutcome {
  const x = instance()
  const parser = x.llhttp_alloc(kind === 'request' ? 1 : 2)
  const collector = new Collector()
  collector.methods = methods
  current = collector
  let error: string | undefined
  let reason = ''
  try {
    for (const piece of pieces) {
      if (piece.length === 0) continue
      const ptr = x.malloc(piece.length)
      if (memoryBytes.buffer !== x.memory.buffer) memoryBytes = new Uint8Array(x.memory.buffer)
      memoryBytes.set(piece, ptr)
      const code = x.llhttp_execute(parser, ptr, piece.length)
      x.free(ptr)
      if (code === ERROR_PAUSED_UPGRADE) {
        error = 'PAUSED_UPGRADE'
        break
      }
      if (code !== ERROR_OK) {
        error = cString(x.llhttp_errno_name(code)).replace(/^HPE_/, '')
        reason = cString(x.llhttp_get_error_reason(parser))
        break
      }
    }
    if (error === undefined && finish) {
      const code = x.llhttp_finish(parser)
      if (code !== ERROR_OK) {
        error = cString(x.llhttp_errno_name(code)).replace(/^HPE_/, '')
        reason = cString(x.llhttp_get_error_reason(parser))
      }
    }
  } finally {
    x.llhttp_free(parser)
    current = undefined
  }
  return { messages: collector.messages, error, reason }
}
