import { describe, expect, it } from 'vitest'
import { DependencyGraph } from './dependency-graph.ts'

describe('DependencyGraph', () => {
  it('orders every node after its dependencies, keeping insertion order for ties', () => {
    const graph = new DependencyGraph()
    const proxy = graph.addNode('proxy')
    const discovery = graph.addNode('discovery')
    const metrics = graph.addNode('metrics')
    const health = graph.addNode('health')
    graph.addDependency(proxy, health)
    graph.addDependency(health, discovery)
    expect(graph.topologicalSort()).toEqual([discovery, metrics, health, proxy])
    expect(graph.dependenciesOf(proxy)).toEqual([health])
  })

  it('rejects an edge that closes a cycle, including a self-dependency', () => {
    const graph = new DependencyGraph()
    const a = graph.addNode('a')
    const b = graph.addNode('b')
    const c = graph.addNode('c')
    graph.addDependency(a, b)
    graph.addDependency(b, c)
    expect(() => graph.addDependency(c, a)).toThrow(
      new RangeError('Circular service dependency detected between a and c'),
    )
    expect(() => graph.addDependency(a, a)).toThrow(RangeError)
    expect(graph.topologicalSort()).toEqual([c, b, a])
  })
})
