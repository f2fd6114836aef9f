import Foundation
@testable import LLMProxyCore
import LLMProxyTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// `/v1/audio/transcriptions` and `/translations`: multipart uploads whose
/// `model` form field is found and replaced on the bytes, while the file
/// streams to the provider without being held.
@Suite(.serialized) struct MultipartUploadTests {
    static let boundary = "----llmproxy7MA4YWxkTrZu0gW"

    /// A form as the OpenAI SDKs send it (fields, then the file), or with the
    /// `model` field after the file.
    static func form(model: String = "whisper-1", file: [UInt8], modelLast: Bool = false) -> [UInt8] {
        let modelPart = "--\(boundary)\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n\(model)\r\n"
        let formatPart = "--\(boundary)\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n"
        let fileHead = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n"
        var bytes: [UInt8] = []
        if !modelLast { bytes += Array(modelPart.utf8) }
        bytes += Array(formatPart.utf8) + Array(fileHead.utf8) + file + Array("\r\n".utf8)
        if modelLast { bytes += Array(modelPart.utf8) }
        bytes += Array("--\(boundary)--\r\n".utf8)
        return bytes
    }

    static func request(path: String = "/v1/audio/transcriptions", body: [UInt8], chunked: Bool = false, close: Bool = true) -> [UInt8] {
        var head = "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-k\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\n"
        if close { head += "Connection: close\r\n" }
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            var bytes = Array(head.utf8)
            var offset = 0
            while offset < body.count {
                let size = min(7000, body.count - offset)
                bytes += Array("\(String(size, radix: 16))\r\n".utf8) + body[offset..<(offset + size)] + Array("\r\n".utf8)
                offset += size
            }
            return bytes + Array("0\r\n\r\n".utf8)
        }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    // MARK: - The scanner, without sockets

    @Test func theModelFieldIsFoundWhereverTheReadsSplitIt() throws {
        let file = Array("ID3\u{0}binary\r\n--not-the-boundary\r\n".utf8)
        for modelLast in [false, true] {
            let body = Self.form(file: file, modelLast: modelLast)
            let text = String(decoding: body, as: UTF8.self)
            let expected = try #require(text.utf8.firstRange(of: "\r\n\r\nwhisper-1\r\n".utf8))
            let start = text.utf8.distance(from: text.utf8.startIndex, to: expected.lowerBound) + 4
            for split in 0...body.count {
                var scanner = try #require(MultipartModelScanner(contentType: "multipart/form-data; boundary=\"\(Self.boundary)\""))
                var outcome = Array(body[..<split]).withUnsafeBytes { scanner.scan($0) }
                if outcome == .needMore { outcome = body.withUnsafeBytes { scanner.bodyEnded($0) } }
                #expect(outcome == .found(.init(valueRange: start..<(start + 9), model: "whisper-1")), "model last: \(modelLast), split at \(split)")
            }
        }
    }

    @Test func malformedFormsAreRefused() throws {
        func outcome(_ text: String, contentType: String = "multipart/form-data; boundary=b") -> MultipartModelScanner.Outcome? {
            guard var scanner = MultipartModelScanner(contentType: contentType) else { return nil }
            return Array(text.utf8).withUnsafeBytes { scanner.bodyEnded($0) }
        }
        #expect(outcome("x", contentType: "application/json") == nil)
        #expect(outcome("x", contentType: "multipart/form-data") == nil)
        guard case .failed(let missing) = outcome("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--b--\r\n") else {
            Issue.record("a form without a model")
            return
        }
        #expect(missing.param == "model")
        let malformed = [
            "garbage with no boundary",
            "--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--\r\n",  // no Content-Disposition
            "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper",  // ends before the boundary
            "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n" + String(repeating: "m", count: 2000) + "\r\n--b--\r\n",
        ]
        for text in malformed {
            guard case .failed(let failure) = outcome(text) else {
                Issue.record("accepted: \(text.prefix(60))")
                continue
            }
            #expect(failure.message.hasPrefix("The multipart body is malformed"), "\(failure)")
        }
        // Part headers that never end are refused once past their limit, not held.
        var scanner = try #require(MultipartModelScanner(contentType: "multipart/form-data; boundary=b"))
        let endless = Array(("--b\r\nX-Pad: " + String(repeating: "p", count: MultipartModelScanner.maximumHeaderBytes + 10)).utf8)
        guard case .failed = endless.withUnsafeBytes({ scanner.scan($0) }) else {
            Issue.record("endless part headers")
            return
        }
    }

    @Test func theClientMachineStreamsAnUploadAndClosesWhenTheAnswerCameFirst() {
        var machine = ClientConnectionStateMachine()
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/audio/transcriptions")
        #expect(machine.channelRead(.head(head)) == .admit)
        _ = machine.admitted(bodyLimit: 100, expectsContinue: false)
        #expect(machine.channelRead(.body(ByteBuffer(string: "model part"))) == .appendBody)
        machine.bodyStreamingStarted()
        #expect(machine.channelRead(.body(ByteBuffer(string: "file"))) == .forwardBody)
        // The provider cannot take more: reads wait, and resume with it.
        #expect(machine.uploadReadsPaused(true) == .none)
        #expect(machine.read() == .none)
        #expect(machine.uploadReadsPaused(false) == .read)
        #expect(machine.channelRead(.body(ByteBuffer(repeating: 0, count: 90))) == .answerError(.bodyTooLarge(limit: 100)))

        var early = ClientConnectionStateMachine()
        _ = early.channelRead(.head(head))
        _ = early.admitted(bodyLimit: 100, expectsContinue: false)
        early.bodyStreamingStarted()
        #expect(early.channelRead(.body(ByteBuffer(string: "x"))) == .forwardBody)
        early.responseHeadWritten(keepAlive: true)
        #expect(early.responseFinished() == .close, "the rest of the body is unread")

        var complete = ClientConnectionStateMachine()
        _ = complete.channelRead(.head(head))
        _ = complete.admitted(bodyLimit: 100, expectsContinue: false)
        complete.bodyStreamingStarted()
        #expect(complete.uploadReadsPaused(true) == .none)
        #expect(complete.channelRead(.end(nil)) == .bodyEnded)
        #expect(complete.read() == .none)
        complete.responseHeadWritten(keepAlive: true)
        #expect(complete.responseFinished() == .read, "a finished upload keeps its connection, and the read it held goes on")
    }

    // MARK: - Through the gateway

    static let yaml = """
        server: {max_body_bytes: 65536}
        providers:
          - {name: openai, api_base: "UPSTREAM/v1", api_key: sk-up, model_mapping: {whisper-1: whisper-large-v3}}
          - {name: azure, type: azure, api_base: "UPSTREAM", api_key: az, model_mapping: {whisper-dep: whisper-dep}}
        master_keys: [{name: k, key: sk-k}]
        health_check: {enabled: false}
        """

    static func transcriber() async throws -> MockUpstream {
        try await MockUpstream { request in
            .json(#"{"text":"heard \#(request.body.count) bytes"}"#)
        }
    }

    @Test func uploadsReachTheProviderWithOnlyTheModelReplaced() async throws {
        let upstream = try await Self.transcriber()
        try await withGateway(yaml: Self.yaml.replacingOccurrences(of: "UPSTREAM", with: upstream.baseURL)) { gateway in
            let file = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            for (modelLast, chunked) in [(false, false), (true, false), (false, true)] {
                let body = Self.form(file: file, modelLast: modelLast)
                // In pieces that split the form anywhere, including inside the model part.
                let bytes = Self.request(body: body, chunked: chunked)
                let pieces = stride(from: 0, to: bytes.count, by: 997).map { Array(bytes[$0..<min($0 + 997, bytes.count)]) }
                let answer = String(decoding: try await TestClient.raw(port: gateway.port, pieces: pieces, pause: .milliseconds(1), timeout: .seconds(5)), as: UTF8.self)
                let expectedBody = Self.form(model: "whisper-large-v3", file: file, modelLast: modelLast)
                #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("heard \(expectedBody.count) bytes"), "\(modelLast) \(chunked): \(answer.prefix(300))")
                let sent = try #require(upstream.requests.last)
                #expect(sent.uri == "/v1/audio/transcriptions" && sent.header("authorization") == "Bearer sk-up")
                #expect(sent.body == expectedBody, "model last: \(modelLast), chunked: \(chunked)")
                #expect(sent.header("content-type") == "multipart/form-data; boundary=\(Self.boundary)")
                if chunked { #expect(sent.header("transfer-encoding") == "chunked") } else { #expect(sent.header("content-length") == String(expectedBody.count)) }
            }
            // A kept-alive connection carries the next request after an upload.
            let twice = String(decoding: try await TestClient.raw(
                port: gateway.port, pieces: [Self.request(body: Self.form(file: file), close: false), Self.request(body: Self.form(file: [1]))],
                pause: .milliseconds(300), timeout: .seconds(5)), as: UTF8.self)
            #expect(twice.components(separatedBy: "HTTP/1.1 200").count == 3, "\(twice)")
            // Translations too; and the Azure-style path streams at once to the deployment.
            let translation = String(decoding: try await TestClient.raw(
                port: gateway.port, bytes: Self.request(path: "/v1/audio/translations", body: Self.form(file: file)), timeout: .seconds(5)), as: UTF8.self)
            #expect(translation.hasPrefix("HTTP/1.1 200") && upstream.requests.last?.uri == "/v1/audio/translations")
            let azure = String(decoding: try await TestClient.raw(
                port: gateway.port, bytes: Self.request(path: "/openai/deployments/whisper-dep/audio/transcriptions?api-version=2024-06-01", body: Self.form(file: file)),
                timeout: .seconds(5)), as: UTF8.self)
            #expect(azure.hasPrefix("HTTP/1.1 200"), "\(azure.prefix(200))")
            let sent = try #require(upstream.requests.last)
            #expect(sent.uri == "/openai/deployments/whisper-dep/audio/transcriptions?api-version=2024-05-01-preview" && sent.header("api-key") == "az")
            #expect(sent.body == Self.form(file: file), "the form goes unchanged: Azure reads the deployment from the path")
        }
        await upstream.stop()
    }

    @Test func badUploadsGetOpenAIErrors() async throws {
        let upstream = try await Self.transcriber()
        try await withGateway(yaml: Self.yaml.replacingOccurrences(of: "UPSTREAM", with: upstream.baseURL)) { gateway in
            func send(_ bytes: [UInt8]) async throws -> (status: Int, error: [String: Any]) {
                let answer = try await TestClient.raw(port: gateway.port, bytes: bytes, timeout: .seconds(5))
                let text = String(decoding: answer, as: UTF8.self)
                let status = Int(text.dropFirst(9).prefix(3)) ?? 0
                let json = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
                let error = ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])?["error"] as? [String: Any] ?? [:]
                return (status, error)
            }
            var answer = try await send(Self.request(body: Array("--\(Self.boundary)\r\nX: y\r\n\r\nabc\r\n--\(Self.boundary)--\r\n".utf8)))
            #expect(answer.status == 400 && (answer.error["message"] as? String)?.contains("malformed") == true)
            answer = try await send(Self.request(body: Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--\(Self.boundary)--\r\n".utf8)))
            #expect(answer.status == 400 && answer.error["param"] as? String == "model")
            var json = Array("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-k\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".utf8)
            answer = try await send(json)
            #expect(answer.status == 400 && (answer.error["message"] as? String)?.contains("multipart/form-data") == true)
            // An unknown model, and one held past max_body_bytes behind a file.
            answer = try await send(Self.request(body: Self.form(model: "nope", file: [1, 2, 3])))
            #expect(answer.status == 404 && answer.error["code"] as? String == "model_not_found")
            answer = try await send(Self.request(body: Self.form(file: Array(repeating: 7, count: 100_000), modelLast: true)))
            #expect(answer.status == 413 && (answer.error["message"] as? String)?.contains("before the file") == true, "\(answer)")
            json = Array("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".utf8)
            answer = try await send(json)
            #expect(answer.status == 401)
        }
        await upstream.stop()
    }

    @Test func uploadsThatFailLeaveNothingBehind() async throws {
        let upstream = try await Self.transcriber()
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        let config = Self.yaml.replacingOccurrences(of: "UPSTREAM", with: upstream.baseURL).replacingOccurrences(
            of: "\nmaster_keys:", with: "\n  - {name: dead, api_base: \"http://127.0.0.1:\(closedPort)/v1\", api_key: x, model_mapping: {dead-model: dead-model}}\nmaster_keys:")
        try await withLeakCheck(yaml: config, upstreams: [upstream]) { gateway in
            let file = Array(repeating: UInt8(9), count: 200_000)
            let bytes = Self.request(body: Self.form(file: file))
            for index in 0..<60 {
                // Clients that leave mid-upload, at different points.
                let cut = 300 + (index * 3331) % (bytes.count - 400)
                _ = try? await TestClient.raw(port: gateway.port, pieces: [Array(bytes[..<cut])], timeout: .milliseconds(30), closeAfterSend: true)
            }
            // A provider that is down: 502, once (a streamed upload is not retried).
            let dead = Self.request(body: Self.form(model: "dead-model", file: file))
            for _ in 0..<20 {
                let answer = String(decoding: try await TestClient.raw(port: gateway.port, bytes: dead, timeout: .seconds(5)), as: UTF8.self)
                #expect(answer.hasPrefix("HTTP/1.1 502"), "\(answer.prefix(120))")
            }
        }
        await upstream.stop()
    }

    /// OpenAI's own limit, through the built binary: the gateway's memory
    /// grows by far less than the upload.
    @Test func a25MegabyteUploadStreamsThrough() async throws {
        let upstream = try await Self.transcriber()
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile(Self.yaml.replacingOccurrences(of: "UPSTREAM", with: upstream.baseURL), to: path)
        let gateway = try await SpawnedGateway(configPath: path.path, directory: directory, environment: ["LOG_LEVEL": "warning"])
        defer { gateway.stop() }
        func peakRSS() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(gateway.process.processIdentifier)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])! * 1024
        }
        // A small upload first, so what is measured is the big one.
        _ = try await TestClient.raw(port: gateway.port, bytes: Self.request(body: Self.form(file: [1, 2, 3])), timeout: .seconds(5))
        let before = try peakRSS()
        let file = [UInt8](repeating: 0x55, count: 25 * 1024 * 1024)
        let bytes = Self.request(body: Self.form(file: file))
        let pieces = stride(from: 0, to: bytes.count, by: 256 * 1024).map { Array(bytes[$0..<min($0 + 256 * 1024, bytes.count)]) }
        let answer = String(decoding: try await TestClient.raw(port: gateway.port, pieces: pieces, pause: .milliseconds(1), timeout: .seconds(60)), as: UTF8.self)
        let expected = Self.form(model: "whisper-large-v3", file: file).count
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("heard \(expected) bytes"), "\(answer.prefix(300))")
        let growth = try peakRSS() - before
        print("25 MB upload: gateway peak RSS \(before / 1024) KB -> \((before + growth) / 1024) KB (+\(growth / 1024) KB)")
        #expect(growth < 6 * 1024 * 1024, "peak RSS grew by \(growth / 1024) KB for a 25 MB upload")
        await upstream.stop()
    }
}
