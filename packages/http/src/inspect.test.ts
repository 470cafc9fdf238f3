import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { RequestHeader } from './request-header.ts'
import { ResponseHeader } from './response-header.ts'

describe('inspection', () => {
  it('shows the private state when inspected', () => {
    const request = RequestHeader.build('GET', '/x')
    request.appendHeader('Host', 'h')
    expect(inspect(request)).toContain("uri: '/x'")
    expect(inspect(request)).toContain("[ 'Host', 'h' ]")
    const response = ResponseHeader.build(404)
    expect(inspect(response)).toContain("reasonPhrase: 'Not Found'")
    expect(inspect(request.headers)).toContain("[ 'Host', 'h' ]")
  })
})
