import ComplaintTesting
import EmbeddedDefault
import Foundation
import Synchronization
import Testing

@Suite("LaunchedProgram", .timeLimit(.minutes(1)))
struct LaunchedProgramTests {
    /// Foundation's Process.run() over-read its /proc/self/fd listing once about 1,340 descriptors were open
    /// and could crash the whole test process; swift-subprocess lists nothing and closes them all in the child.
    @Test("with 1,400 descriptors open, a child starts, runs, and inherits none of them")
    func manyOpenDescriptors() async throws {
        // A machine whose soft limit is lower (1,024 is common) raises it for this process, within its hard limit.
        var limit = rlimit()
        try #require(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        if limit.rlim_cur < 4_096 {
            try #require(limit.rlim_max >= 4_096, "the hard limit on open files (\(limit.rlim_max)) is too low for this test")
            limit.rlim_cur = 4_096
            try #require(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, "setrlimit: errno \(errno)")
        }
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        let null = open("/dev/null", O_RDONLY)
        try #require(null >= 0)
        opened.append(null)
        // dup: not close-on-exec, so only the launcher's close-from keeps them out of the child.
        for _ in 0..<1_400 {
            let descriptor = dup(null)
            try #require(descriptor >= 0, "dup: errno \(errno)")
            opened.append(descriptor)
        }
        let lines = Mutex<[String]>([])
        let child = try await LaunchedProgram.launch(
            "/bin/ls", arguments: ["/proc/self/fd"], output: .lines { line in lines.withLock { $0.append(line) } })
        let exit = await child.waitForExit(timeout: .seconds(20))
        #expect(exit?.succeeded == true, "\(String(describing: exit))")
        // 0, 1, 2 and the folder ls itself reads.
        let listed = lines.withLock { $0 }.compactMap { Int32($0) }
        #expect(!listed.isEmpty && listed.allSatisfy { $0 <= 3 }, "the child had \(listed.count) descriptors: \(listed.prefix(20))")
    }

    @Test("a child's PID, environment, working folder and log descriptor; a signal ends it and its exit says so")
    func signalAndExit() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("launched-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let log = open(folder + "/child.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try #require(log >= 0)
        let child = try await LaunchedProgram.launch(
            "/bin/sh", arguments: ["-c", "echo \"$GREETING from $(pwd)\"; echo oops >&2; exec sleep 600"],
            environment: ["GREETING": "hello"], workingDirectory: folder, output: .descriptor(log), error: .descriptor(log))
        close(log)
        #expect(child.isRunning && kill(child.pid, 0) == 0)
        let text = { (try? String(contentsOfFile: folder + "/child.log", encoding: .utf8)) ?? "" }
        #expect(await eventually { text().contains("oops") })
        #expect(text().contains("hello from \(URL(fileURLWithPath: folder).resolvingSymlinksInPath().path)"), "\(text())")
        // Its own process group, as Foundation's Process made it.
        #expect(getpgid(child.pid) == child.pid)
        #expect(child.signal(SIGTERM))
        let exit = await child.waitForExit(timeout: .seconds(20))
        #expect(exit == LaunchedProgram.Exit(status: SIGTERM, signalled: true))
        #expect(!child.isRunning && !child.signal(SIGKILL))
    }

    @Test("releasing the last reference kills the child; one launched to outlive its owner keeps running")
    func releaseKills() async throws {
        var child: LaunchedProgram? = try await LaunchedProgram.launch("/bin/sleep", arguments: ["600"])
        let pid = try #require(child?.pid)
        var survivor: LaunchedProgram? = try await LaunchedProgram.launch("/bin/sleep", arguments: ["600"], outlivesOwner: true)
        let survivorPID = try #require(survivor?.pid)
        defer { kill(survivorPID, SIGKILL) }
        child = nil
        survivor = nil
        #expect(await eventually { kill(pid, 0) != 0 }, "killed and reaped")
        let state = try String(contentsOfFile: "/proc/\(survivorPID)/stat", encoding: .utf8).split(separator: ")").last?.split(separator: " ").first
        #expect(state != "Z", "still running")
        _ = (child, survivor)
    }

    /// A child that ignores SIGTERM (ignored signals stay ignored across exec), once it says so.
    private func stubbornChild() async throws -> LaunchedProgram {
        let (lines, printed) = AsyncStream.makeStream(of: String.self)
        let child = try await LaunchedProgram.launch(
            "/bin/sh", arguments: ["-c", "trap '' TERM; echo ready; exec sleep 600"], output: .lines { printed.yield($0) })
        for await line in lines where line == "ready" { break }
        printed.finish()
        return child
    }

    @Test("the stop, blocking or awaited: a child ignoring SIGTERM is killed once the grace is over")
    func stopKillsAfterGrace() async throws {
        for blocking in [true, false] {
            let child = try await stubbornChild()
            defer { child.signal(SIGKILL) }
            let started = ContinuousClock.now
            let exit = blocking ? child.stopBlocking(grace: .milliseconds(500)) : await child.stop(grace: .milliseconds(500))
            let took = ContinuousClock.now - started
            #expect(exit == LaunchedProgram.Exit(status: SIGKILL, signalled: true), "blocking: \(blocking)")
            #expect(took >= .milliseconds(500) && took < .seconds(10), "blocking: \(blocking), took \(took)")
            #expect(await child.waitForExit(timeout: .seconds(10)) == exit, "reaped by its task")
        }
    }

    @Test("the blocking stop of a child that has ended sends no signal and returns its own exit at once")
    func stopAfterExit() async throws {
        let child = try await LaunchedProgram.launch("/bin/sh", arguments: ["-c", "exit 3"])
        // Ended (a zombie, or reaped by now): the blocking wait sees it either way.
        #expect(child.waitForExitBlocking(timeout: .seconds(20)) == LaunchedProgram.Exit(status: 3, signalled: false))
        let started = ContinuousClock.now
        #expect(child.stopBlocking(grace: .seconds(20)) == LaunchedProgram.Exit(status: 3, signalled: false))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(await child.waitForExit(timeout: .seconds(10)) == LaunchedProgram.Exit(status: 3, signalled: false))
    }

    /// A blocking stop runs where a test cannot await (a `defer`, a `deinit`), often on a thread of the task pool;
    /// if it waited for the child's task to record the exit, stops filling every thread of the pool would wait
    /// for each other until their bound.
    @Test("blocking stops on every thread of the task pool at once end with their children, not at their bound")
    func blockingStopsFillingThePool() async throws {
        let count = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
        var children: [LaunchedProgram] = []
        defer { for child in children { child.signal(SIGKILL) } }
        for _ in 0..<count {
            children.append(try await LaunchedProgram.launch("/bin/sleep", arguments: ["600"]))
        }
        let results = await withTaskGroup(of: (LaunchedProgram.Exit?, Duration).self) { group in
            for child in children {
                group.addTask {
                    let started = ContinuousClock.now
                    let exit = child.stopBlocking(grace: .seconds(20))
                    return (exit, ContinuousClock.now - started)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (exit, took) in results {
            #expect(exit == LaunchedProgram.Exit(status: SIGTERM, signalled: true) && took < .seconds(10), "\(String(describing: exit)) after \(took)")
        }
    }

    @Test("a program that does not exist fails the launch")
    func missingProgram() async throws {
        await #expect(throws: (any Error).self) {
            try await LaunchedProgram.launch("/nonexistent/program")
        }
    }
}
