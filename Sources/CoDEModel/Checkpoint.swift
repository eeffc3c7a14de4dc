import CoDECore
import Foundation

/// Errors from loading or saving an encoder checkpoint.
public enum CheckpointError: Error, CustomStringConvertible {
    case notFound(String)
    case badConfig(file: String, reason: String)
    case unsupported(file: String, reason: String)
    case tensors(SafeTensorsError)
    /// A weight tensor holds NaN or an infinity (element `index`, row-major); such a model would
    /// turn every embedding into NaN.
    case nonFinite(file: String, tensor: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .notFound(p): "checkpoint not found: \(p) (expected a folder with config.json and model.safetensors, or a .safetensors file)"
        case let .badConfig(f, r): "\(f): \(r)"
        case let .unsupported(f, r): "\(f): unsupported model: \(r)"
        case let .tensors(e): e.description
        case let .nonFinite(f, t, i, v): "\(f): tensor '\(t)' holds a non-finite weight (\(v) at element \(i)); the checkpoint is corrupt or diverged"
        }
    }
}

/// The one table that maps CoDEKit's (timm) tensor names to transformers `ViTModel` names.
///
/// Each rule names a timm tensor and the transformers tensors it is made of; several sources
/// are concatenated along dimension 0 (timm's fused `attn.qkv` = query | key | value rows).
/// `{i}` stands for the block index. The same table drives loading and saving.
public enum CheckpointNames {
    public struct Rule: Sendable {
        public let timm: String
        public let transformers: [String]
    }

    public static let rules: [Rule] = {
        var r: [Rule] = [
            Rule(timm: "cls_token", transformers: ["embeddings.cls_token"]),
            Rule(timm: "pos_embed", transformers: ["embeddings.position_embeddings"]),
            Rule(timm: "patch_embed.proj.weight", transformers: ["embeddings.patch_embeddings.projection.weight"]),
            Rule(timm: "patch_embed.proj.bias", transformers: ["embeddings.patch_embeddings.projection.bias"]),
            Rule(timm: "norm.weight", transformers: ["layernorm.weight"]),
            Rule(timm: "norm.bias", transformers: ["layernorm.bias"]),
        ]
        let block: [(String, [String])] = [
            ("norm1", ["layernorm_before"]),
            ("attn.qkv", ["attention.attention.query", "attention.attention.key", "attention.attention.value"]),
            ("attn.proj", ["attention.output.dense"]),
            ("norm2", ["layernorm_after"]),
            ("mlp.fc1", ["intermediate.dense"]),
            ("mlp.fc2", ["output.dense"]),
        ]
        for (t, hf) in block {
            for kind in ["weight", "bias"] {
                r.append(Rule(timm: "blocks.{i}.\(t).\(kind)", transformers: hf.map { "encoder.layer.{i}.\($0).\(kind)" }))
            }
        }
        return r
    }()

    /// The transformers tensors for a timm name, or nil if no rule matches.
    public static func transformers(for timmName: String) -> [String]? {
        for rule in rules {
            if rule.timm == timmName { return rule.transformers }
            if let i = blockIndex(timmName, pattern: rule.timm) {
                return rule.transformers.map { $0.replacingOccurrences(of: "{i}", with: "\(i)") }
            }
        }
        return nil
    }

    private static func blockIndex(_ name: String, pattern: String) -> Int? {
        guard let r = pattern.range(of: "{i}") else { return nil }
        let prefix = pattern[..<r.lowerBound], suffix = pattern[r.upperBound...]
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        let mid = name.dropFirst(prefix.count).dropLast(suffix.count)
        return mid.allSatisfy(\.isNumber) ? Int(mid) : nil
    }
}

extension ViT {
    /// Loads an encoder from `url`: a transformers `ViTModel` folder (`config.json` +
    /// `model.safetensors`, the layout of the released `aimagelab/CoDE` model and of CoDEKit's
    /// own checkpoints), or a single `.safetensors` file with timm names (then `configuration`
    /// gives the shape; default ``ViTConfiguration/tiny``).
    public static func load(from url: URL, configuration: ViTConfiguration = .tiny) throws -> ViT {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { throw CheckpointError.notFound(url.path) }
        if isDir.boolValue { return try loadTransformers(folder: url) }
        return try loadTimm(file: url, configuration: configuration)
    }

    /// Reads a transformers `ViTConfig` (`config.json`): sizes, `layer_norm_eps`, `qkv_bias`,
    /// `hidden_act` (must be exact `gelu`).
    public static func readTransformersConfig(_ url: URL) throws -> ViTConfiguration {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.notFound(path) }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError.badConfig(file: path, reason: "not a JSON object")
        }
        func int(_ k: String, _ def: Int? = nil) throws -> Int {
            if let v = obj[k] as? Int { return v }
            if let d = def { return d }
            throw CheckpointError.badConfig(file: path, reason: "missing integer '\(k)'")
        }
        if let t = obj["model_type"] as? String, t != "vit" {
            throw CheckpointError.unsupported(file: path, reason: "model_type '\(t)' (CoDEKit loads 'vit')")
        }
        let act = obj["hidden_act"] as? String ?? "gelu"
        guard act == "gelu" else {
            throw CheckpointError.unsupported(file: path, reason: "hidden_act '\(act)' (CoDEKit implements the exact erf GELU, 'gelu')")
        }
        let eps = (obj["layer_norm_eps"] as? Double) ?? 1e-12
        let c = ViTConfiguration(
            imageSize: try int("image_size", 224), patchSize: try int("patch_size", 16), channels: try int("num_channels", 3),
            width: try int("hidden_size"), depth: try int("num_hidden_layers"), heads: try int("num_attention_heads"),
            mlpWidth: try int("intermediate_size"), layerNormEps: Float(eps), qkvBias: (obj["qkv_bias"] as? Bool) ?? true)
        if let p = c.problem { throw CheckpointError.badConfig(file: path, reason: p) }
        return c
    }

    static func loadTransformers(folder: URL) throws -> ViT {
        let config = try readTransformersConfig(folder.appendingPathComponent("config.json"))
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("model.safetensors")) } catch let e as SafeTensorsError {
            throw CheckpointError.tensors(e)
        }
        // Optional "vit." prefix (ViTForImageClassification and friends); pooler is ignored.
        let prefix = file.names.contains { $0.hasPrefix("vit.") } ? "vit." : ""
        let model = ViT(configuration: config)
        var used = Set<String>()
        do {
            for spec in model.layout.specs {
                guard let sources = CheckpointNames.transformers(for: spec.name) else {
                    preconditionFailure("no checkpoint rule for \(spec.name)")
                }
                var offset = spec.offset
                let rows = spec.shape[0] / sources.count
                for s in sources {
                    var shape = spec.shape
                    shape[0] = rows
                    // transformers stores the CLS token and positions with the same shapes as timm.
                    let e = try file.require(prefix + s, shape: shape)
                    try file.copy(e, into: model.parameters.pointer + offset)
                    try checkFinite(model.parameters.pointer + offset, count: e.count, file: file.source, tensor: prefix + s)
                    offset += e.count
                    used.insert(prefix + s)
                }
            }
        } catch let e as SafeTensorsError { throw CheckpointError.tensors(e) }
        let extra = file.names.filter { !used.contains($0) && !$0.hasPrefix(prefix + "pooler.") }
        if !extra.isEmpty { throw CheckpointError.tensors(.unexpectedTensors(file: file.source, tensors: extra)) }
        model.metadata = file.metadata
        return model
    }

    static func loadTimm(file url: URL, configuration: ViTConfiguration) throws -> ViT {
        if let p = configuration.problem { throw CheckpointError.badConfig(file: url.path, reason: p) }
        let model = ViT(configuration: configuration)
        do {
            let file = try SafeTensorsFile(contentsOf: url)
            for spec in model.layout.specs {
                try file.copy(try file.require(spec.name, shape: spec.shape), into: model.parameters.pointer + spec.offset)
                try checkFinite(model.parameters.pointer + spec.offset, count: spec.count, file: file.source, tensor: spec.name)
            }
            let extra = file.names.filter { model.layout.spec($0) == nil }
            if !extra.isEmpty { throw SafeTensorsError.unexpectedTensors(file: file.source, tensors: extra) }
            model.metadata = file.metadata
        } catch let e as SafeTensorsError { throw CheckpointError.tensors(e) }
        return model
    }

    /// Throws ``CheckpointError/nonFinite(file:tensor:index:value:)`` at the first NaN or infinity.
    static func checkFinite(_ p: UnsafePointer<Float>, count: Int, file: String, tensor: String) throws {
        for i in 0..<count where !p[i].isFinite { throw CheckpointError.nonFinite(file: file, tensor: tensor, index: i, value: p[i]) }
    }

    /// The transformers `config.json` for this model.
    public var transformersConfig: String {
        let c = configuration
        let obj: [String: Any] = [
            "architectures": ["ViTModel"], "model_type": "vit", "hidden_size": c.width,
            "num_hidden_layers": c.depth, "num_attention_heads": c.heads, "intermediate_size": c.mlpWidth,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
            "initializer_range": 0.02, "layer_norm_eps": Double(c.layerNormEps), "image_size": c.imageSize,
            "patch_size": c.patchSize, "num_channels": c.channels, "qkv_bias": c.qkvBias, "encoder_stride": c.patchSize,
        ]
        let data = try! JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Writes a transformers `ViTModel` folder (`config.json` + `model.safetensors`, no pooler)
    /// that `ViTModel.from_pretrained(folder, add_pooling_layer=False)` loads. Each file is
    /// written atomically; `metadata` goes into the safetensors header.
    public func save(to folder: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var w = SafeTensorsWriter(metadata: metadata.merging(["format": "pt"]) { a, _ in a })
        for spec in layout.specs {
            let sources = CheckpointNames.transformers(for: spec.name)!
            let per = spec.count / sources.count
            for (k, s) in sources.enumerated() {
                var shape = spec.shape
                shape[0] /= sources.count
                w.add(s, shape: shape, floats: UnsafeBufferPointer(start: parameters.pointer + spec.offset + k * per, count: per))
            }
        }
        try w.write(to: folder.appendingPathComponent("model.safetensors"))
        try AtomicFile.write(transformersConfig, to: folder.appendingPathComponent("config.json"))
    }

    /// Writes the parameters with timm names to one safetensors file (atomically).
    public func saveTimm(to url: URL) throws {
        var w = SafeTensorsWriter(metadata: ["format": "pt"])
        for spec in layout.specs {
            w.add(spec.name, shape: spec.shape, floats: UnsafeBufferPointer(start: parameters.pointer + spec.offset, count: spec.count))
        }
        try w.write(to: url)
    }
}
