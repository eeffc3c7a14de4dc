import CoDECore
import CoDEContrastive
import Testing
import _CoDETestSupport

/// InfoNCE and the CoDE objective against PyTorch autograd (float64 references on the same float32
/// inputs, written by Tests/Fixtures/make_contrastive_fixtures.py).
@Suite struct ContrastiveParityTests {
    func embeddings(_ f: SafeTensorsFile, _ name: String) throws -> Embeddings<Float> {
        let e = try f.require(name)
        return try Embeddings(rows: e.shape[0], dim: e.shape[1], values: f.floats(name), name: name)
    }

    @Test(arguments: 0..<3)
    func infoNCEMatchesTorch(index: Int) throws {
        let f = try Fixtures.open("contrastive/infonce.safetensors")
        let c = "case\(index)"
        let (loss, dq, dp, dn) = try InfoNCE(temperature: 0.1).lossAndGradients(
            query: embeddings(f, "\(c).query"), positive: embeddings(f, "\(c).positive"), negatives: embeddings(f, "\(c).negatives"))
        // Float32 arithmetic against a float64 reference: logits carry ~1e-6 relative error, the
        // loss is accumulated in Double; 1e-5 relative on the loss and the 1e-4 per
        // gradient tensor leave margin for rounding yet catch any formula error (O(1) off).
        let l = TensorDiff([loss], try f.doubles("\(c).loss"))
        #expect(l.relative < 1e-5, "\(c) loss: \(l)")
        for (name, g) in [("dQuery", dq), ("dPositive", dp), ("dNegatives", dn)] {
            let d = TensorDiff(g.values, try f.doubles("\(c).\(name)"))
            #expect(d.relative < 1e-4, "\(c) \(name): \(d)")
        }
    }

    @Test(arguments: ["plain", "rolled"])
    func objectiveMatchesTorch(variant: String) throws {
        let f = try Fixtures.open("contrastive/objective.safetensors")
        let names = ["real", "fake", "augReal", "augFake", "globalReal", "localReal", "globalFake", "localFake"]
        let x = try CoDEViewEmbeddings(names.map { try embeddings(f, "input.\($0)") })
        let rollReal = variant == "rolled" ? try f.integers("rolled.rollReal") : nil
        let rollFake = variant == "rolled" ? try f.integers("rolled.rollFake") : nil
        let r = try CoDEObjective(temperature: 0.1)(x, rollReal: rollReal, rollFake: rollFake)
        let parts = [("total", r.total), ("lReal", r.lReal), ("lFake", r.lFake), ("lRealGlobal", r.lRealGlobal),
                     ("lRealLocal", r.lRealLocal), ("lFakeGlobal", r.lFakeGlobal), ("lFakeLocal", r.lFakeLocal)]
        for (name, value) in parts {
            // Same tolerance reasoning as infoNCEMatchesTorch.
            let d = TensorDiff([value], try f.doubles("\(variant).\(name)"))
            #expect(d.relative < 1e-5, "\(variant).\(name): \(d)")
        }
        for v in CoDEView.allCases {
            let d = TensorDiff(r.gradients[v].values, try f.doubles("\(variant).grad.\(names[v.rawValue])"))
            #expect(d.relative < 1e-4, "\(variant) d\(v.name): \(d)")
        }
    }
}
