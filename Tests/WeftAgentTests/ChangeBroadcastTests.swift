import Testing

@testable import WeftAgent

/// ChangeBroadcast wakes every waiter; a wait also ends at its deadline or when cancelled.
@Suite struct ChangeBroadcastTests {
    @Test func everyWaiterIsWokenByANotify() async {
        let broadcast = ChangeBroadcast()
        let farAway = ContinuousClock.now + .seconds(3600)
        let woken = await withTaskGroup(of: Int.self) { group in
            for waiter in 0..<8 {
                group.addTask {
                    await broadcast.wait(until: farAway); return waiter
                }
            }
            // Notified until all have returned: a waiter not yet registered is woken by a later notify.
            let notifier = Task {
                while !Task.isCancelled {
                    broadcast.notifyAll()
                    await Task.yield()
                }
            }
            var woken: Set<Int> = []
            for await waiter in group { woken.insert(waiter) }
            notifier.cancel()
            return woken
        }
        #expect(woken == Set(0..<8))
    }

    @Test func aWaitEndsAtItsDeadlineOrOnCancellationWithoutANotify() async {
        let broadcast = ChangeBroadcast()
        await broadcast.wait(until: ContinuousClock.now)
        let cancelled = Task { await broadcast.wait(until: ContinuousClock.now + .seconds(3600)) }
        cancelled.cancel()
        await cancelled.value
        // A notify still wakes a later wait: nothing was left behind by the two above.
        let later = Task { await broadcast.wait(until: ContinuousClock.now + .seconds(3600)) }
        let notifier = Task {
            while !Task.isCancelled {
                broadcast.notifyAll()
                await Task.yield()
            }
        }
        await later.value
        notifier.cancel()
    }
}
