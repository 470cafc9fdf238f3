import { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { encodeTrailerFrame, GrpcWeb } from './grpc-web.ts'

describe('GrpcWeb', () => {
  it('rewrites a gRPC-web request and its gRPC response, and encodes the trailers', () => {
    const bridge = new GrpcWeb().init()
    const request = RequestHeader.build('POST', '/svc/M')
    request.insertHeader('Content-Type', 'application/grpc-web+proto')
    bridge.requestHeaderFilter(request)
    expect(bridge.isActive).toBe(true)
    expect(request.getHeader('content-type')).toBe('application/grpc+proto')
    expect(request.getHeader('te')).toBe('trailers')

    const response = ResponseHeader.build(200)
    response.insertHeader('Content-Type', 'application/grpc+proto')
    response.insertHeader('Content-Length', '12')
    bridge.responseHeaderFilter(response)
    expect(response.getHeader('content-type')).toBe('application/grpc-web+proto')
    expect(response.getHeader('content-length')).toBeUndefined()

    const trailers = new HeaderMap([
      ['Grpc-Status', '0'],
      ['x-meta', 'v'],
    ])
    const frame = Buffer.from(bridge.responseTrailerFilter(trailers) ?? [])
    const block = 'grpc-status: 0\r\nx-meta: v\r\n'
    expect(frame[0]).toBe(0x80)
    expect(frame.readUInt32BE(1)).toBe(block.length)
    expect(frame.subarray(5).toString()).toBe(block)
    expect(trailers.size).toBe(0)
  })

  it('leaves other requests alone, including the base64 text form', () => {
    for (const type of ['application/json', 'application/grpc-web-text', 'application/grpc']) {
      const bridge = new GrpcWeb().init()
      const request = RequestHeader.build('POST', '/')
      request.insertHeader('Content-Type', type)
      bridge.requestHeaderFilter(request)
      expect(bridge.isActive).toBe(false)
      expect(request.getHeader('content-type')).toBe(type)
      expect(bridge.responseTrailerFilter(new HeaderMap([['grpc-status', '0']]))).toBeUndefined()
    }
  })

  it('bounds the encoded trailer block', () => {
    const trailers = new HeaderMap()
    for (let i = 0; i < 2000; i++) trailers.append(`x-k${i}`, 'v'.repeat(100))
    const frame = Buffer.from(encodeTrailerFrame(trailers))
    expect(frame.length).toBeLessThanOrEqual(5 + 64 * 1024)
  })
})
