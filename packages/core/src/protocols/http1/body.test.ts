import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Stream } from '../l4/stream.ts'
import { BodyReader, BodyWriter } from './body.ts'

function detachedStream(): Stream {
  const stream = new Stream(new net.Socket())
  onTestFinished(() => stream.destroy())
  return stream
}

/** Feeds `input` split at the given offsets; returns the body and what was pushed back. */
function decode(input: string, cuts: number[]): { body: string; rest: string; done: boolean } {
  const stream = detachedStream()
  const reader = new BodyReader('downstream')
  reader.initChunked()
  const buf = Buffer.from(input, 'latin1')
  let body = ''
  let previous = 0
  for (const cut of [...cuts, buf.length]) {
    let piece: Buffer | undefined = buf.subarray(previous, cut)
    previous = cut
    while (piece !== undefined && piece.length > 0 && !reader.done) {
      const data = reader.feed(stream, piece)
      if (data !== undefined) body += data.toString('latin1')
      piece = stream.tryRead()
    }
    if (reader.done) {
      // Whatever is left belongs to the next message.
      const rest = [piece, stream.tryRead(), buf.subarray(cut)].filter((b) => b !== undefined)
      return { body, rest: Buffer.concat(rest as Buffer[]).toString('latin1'), done: true }
    }
  }
  return { body, rest: '', done: reader.done }
}

describe('BodyReader chunked decoding', () => {
  const message =
    '4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT'

  it('decodes a whole message and pushes back the bytes after it', () => {
    const { body, rest, done } = decode(message, [])
    expect(body).toBe('Wikipedia in \r\n\r\nchunks.')
    expect(rest).toBe('NEXT')
    expect(done).toBe(true)
  })

  it('decodes the same message split at every possible offset', () => {
    for (let cut = 1; cut < message.length; cut++) {
      const { body, rest } = decode(message, [cut])
      expect(body).toBe('Wikipedia in \r\n\r\nchunks.')
      expect(rest).toBe('NEXT')
    }
  })

  it('decodes the message fed one byte at a time', () => {
    const cuts = Array.from({ length: message.length - 1 }, (_, i) => i + 1)
    expect(decode(message, cuts).body).toBe('Wikipedia in \r\n\r\nchunks.')
  })

  it('throws H1Error with the configured source on a bad size', () => {
    const reader = new BodyReader('upstream')
    reader.initChunked()
    let error: unknown
    try {
      reader.feed(detachedStream(), Buffer.from('g\r\n'))
    } catch (e) {
      error = e
    }
    expect(PingoraError.is(error) && error.type === 'H1Error' && error.source === 'upstream').toBe(
      true,
    )
    expect(reader.done).toBe(true)
    expect(reader.complete).toBe(false)
  })
})

describe('BodyReader length and none', () => {
  it('returns exactly the declared bytes and pushes back the rest', () => {
    const stream = detachedStream()
    const reader = new BodyReader('downstream')
    reader.initLength(5)
    expect(reader.feed(stream, Buffer.from('abc'))?.toString()).toBe('abc')
    expect(reader.remaining).toBe(2)
    expect(reader.feed(stream, Buffer.from('deXYZ'))?.toString()).toBe('de')
    expect(reader.done && reader.complete).toBe(true)
    expect(stream.tryRead()?.toString()).toBe('XYZ')
  })

  it('is done at once for an empty body', () => {
    const reader = new BodyReader('downstream')
    reader.initLength(0)
    expect(reader.done).toBe(true)
    reader.initNone()
    expect([reader.mode, reader.done]).toEqual(['none', true])
  })
})

describe('BodyWriter', () => {
  it('returns the last-chunk terminator once for chunked and nothing otherwise', () => {
    const writer = new BodyWriter('downstream')
    writer.init('chunked')
    expect(writer.finish()).toBe('0\r\n\r\n')
    expect(writer.finish()).toBe('')
    writer.init('length', 3)
    expect(writer.finish()).toBe('')
    expect(writer.complete).toBe(false)
  })

  it('refuses to write past the declared length', () => {
    const writer = new BodyWriter('downstream')
    writer.init('length', 2)
    expect(() => writer.write(detachedStream(), Buffer.from('abc'), undefined)).toThrow(
      PingoraError,
    )
  })
})
