import Foundation
import Testing
import WeftJSON
@testable import WeftKube

/// What the API server and an operator's kubeconfig send the client, decoded into typed values: a
/// Status 410 as a reply and as a watch's ERROR event, kubeconfig files, and malformed values
/// refused with an error naming the field.
@Suite struct KubeDocumentTests {
    /// A Status as kube-apiserver writes it for an expired resourceVersion.
    static let gone = #"""
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (4521)","reason":"Expired","code":410}
        """#

    @Test func aStatus410NamesItsMessageAndCode() throws {
        let refused = KubeAPIError(status: 410, "GET /api/v1/pods?limit=500", Data(Self.gone.utf8))
        #expect(refused.description == "GET /api/v1/pods?limit=500: HTTP 410: too old resource version: 1 (4521)")
        let event = try DecodedJSON.decode(KubeWatchError.self, from: #"{"type":"ERROR","object":\#(Self.gone)}"#, "watch") { KubeError(.kubeAPI, $0) }
        #expect(event.object.code == 410 && event.object.reason == "Expired")
        #expect(event.object.summary == "too old resource version: 1 (4521) (code 410)")
        // A body that is no Status (a proxy's HTML page) still gives the HTTP status.
        #expect(KubeAPIError(status: 502, "GET /api/v1/pods", Data("<html>".utf8)).description == "GET /api/v1/pods: HTTP 502: no message")
    }

    /// A Status field of the wrong type is refused by name; the control, the recorded Status, is read.
    @Test func aMalformedErrorEventIsRefusedByName() throws {
        #expect(throws: KubeError(.kubeAPI, #"watch: object.code must be an integer, found "410""#)) {
            try DecodedJSON.decode(KubeWatchError.self, from: #"{"type":"ERROR","object":{"code":"410"}}"#, "watch") { KubeError(.kubeAPI, $0) }
        }
        #expect(throws: KubeError(.kubeAPI, "watch: object.code has an invalid value 1e+30")) {
            try DecodedJSON.decode(KubeWatchError.self, from: #"{"type":"ERROR","object":{"code":1e30}}"#, "watch") { KubeError(.kubeAPI, $0) }
        }
        let control = try DecodedJSON.decode(KubeWatchError.self, from: #"{"type":"ERROR","object":\#(Self.gone)}"#, "watch") { KubeError(.kubeAPI, $0) }
        #expect(control.object.code == 410)
    }

    @Test func kubeconfigCurrentContextWithEmbeddedCredentials() throws {
        let yaml = """
            apiVersion: v1
            kind: Config
            current-context: weft
            clusters:
            - name: other
              cluster: {server: "https://10.9.9.9:6443"}
            - name: local
              cluster:
                server: https://10.77.0.3:6443/
                certificate-authority-data: \(Data("CA".utf8).base64EncodedString())
            users:
            - name: node
              user:
                client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
                client-key-data: \(Data("KEY".utf8).base64EncodedString())
            contexts:
            - name: weft
              context: {cluster: local, user: node}
            """
        let credentials = try KubeCredentials.parse(kubeconfig: yaml, directory: "/nonexistent")
        #expect(credentials.server == "https://10.77.0.3:6443")
        #expect(credentials.caPEM == Array("CA".utf8))
        #expect(credentials.clientCertificatePEM == Array("CERT".utf8) && credentials.clientKeyPEM == Array("KEY".utf8))
        #expect(credentials.token == nil)
        #expect(throws: KubeError.self) { try KubeCredentials.parse(kubeconfig: "current-context: none\n", directory: "/") }
        #expect(throws: KubeError.self) { try KubeCredentials.inCluster(environment: [:]) }
    }

    /// A kubeconfig field of the wrong type is refused by name. The control: the same file well typed.
    @Test(arguments: [
        ("clusters: {name: c, cluster: {server: \"https://10.0.0.1:6443\"}}", "kubeconfig: clusters is of the wrong type"),
        ("clusters: [{name: c, cluster: {server: [1]}}]", "kubeconfig: clusters[0].cluster.server is of the wrong type"),
        (
            "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\", insecure-skip-tls-verify: [true]}}]",
            "kubeconfig: clusters[0].cluster.insecure-skip-tls-verify is of the wrong type"
        ),
        ("- a\n- b", "kubeconfig: the document is of the wrong type"),
    ])
    func malformedKubeconfigsAreRefusedByName(yaml: String, message: String) throws {
        let rest = "\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
        do {
            _ = try KubeCredentials.parse(kubeconfig: yaml + (yaml.hasPrefix("-") ? "" : rest), directory: "/")
            Issue.record("accepted \(yaml)")
        } catch let error as KubeError {
            #expect(error.message.hasPrefix(message), "\(error.message)")
        }
        let control = try KubeCredentials.parse(
            kubeconfig: "clusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\", extra: 1}}]" + rest,
            directory: "/")
        #expect(control.server == "https://10.0.0.1:6443" && control.token == "t")
    }
}
