import CoDECore
@testable import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Datasets: tar reader, WebDataset shards, folders, CSV manifests, pairing")
struct DatasetTests {
    static func tar(_ name: String) -> URL { Fixtures.url("images/tar/\(name)") }

    @Test("tar listing equals Python tarfile's (pax and GNU long names)", arguments: ["d3_pax.tar", "d3_gnu.tar"])
    func tarListing(name: String) throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.tar("listing.json"))) as! [String: [[Any]]]
        let expected = try #require(json[name]).map { TarArchive.Member(name: $0[0] as! String, offset: $0[1] as! Int, size: $0[2] as! Int) }
        let archive = try TarArchive(contentsOf: Self.tar(name))
        #expect(archive.members == expected)
        #expect(archive.members.contains { $0.name.count > 100 }, "fixture should exercise long names")
    }

    @Test("malformed tars give specific errors naming the file")
    func badTars() throws {
        let cases: [(String, String)] = [("bad_checksum.tar", "checksum"), ("truncated.tar", "truncated tar"), ("bad_size.tar", "not octal")]
        for (name, reason) in cases {
            let e = try #require(throws: DatasetError.self) { try TarArchive(contentsOf: Self.tar(name)) }
            #expect(e.description.hasPrefix(Self.tar(name).path) && e.description.contains(reason), "\(e)")
        }
        // No end-of-archive block: a tar cut exactly at a header boundary.
        let good = try Data(contentsOf: Self.tar("d3_pax.tar"))
        #expect(throws: DatasetError.self) { try TarArchive(data: good.prefix(512), source: "cut.tar") }
        #expect(throws: DatasetError.self) { try TarArchive(data: Data(), source: "empty.tar") }
    }

    @Test("D3 WebDataset layout: real and gen_i per record key")
    func webDataset() throws {
        let ds = try ImageDataset.webDataset(shards: [Self.tar("d3_pax.tar")])
        #expect(ds.realCount == 4 && ds.fakeCount == 9)
        let recA = ds.samples.filter { $0.record == "d3_pax.tar/rec_a" }
        #expect(recA.map(\.label) == [.real, .fake, .fake, .fake, .fake])
        #expect(recA.compactMap(\.generator) == ["gen_0", "gen_1", "gen_2", "gen_3"])
        #expect(!ds.samples.contains { $0.location.name.hasSuffix(".txt") })
        #expect(ImageDataset.splitKey("dir/abc.real.jpg")! == ("dir/abc", "real.jpg"))
        #expect(ImageDataset.splitKey("dir.v2/abc") == nil)
        // Member bytes come straight from the shard and decode.
        let reader = SampleReader()
        let img = try reader.image(recA[0])
        #expect(img.width == 12 && img.height == 10)
    }

    @Test("a shard cut short after listing gives a truncation error, not a crash")
    func shrunkShard() throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-shard-\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: Self.tar("d3_pax.tar"), to: copy)
        let ds = try ImageDataset.webDataset(shards: [copy])
        let last = try #require(ds.samples.last)
        guard case let .tarMember(_, _, offset, _) = last.location else { Issue.record("not a tar member"); return }
        let handle = try FileHandle(forWritingTo: copy)
        try handle.truncate(atOffset: UInt64(offset + 10))
        try handle.close()
        let e = try #require(throws: ImageError.self) { try SampleReader().data(last) }
        guard case .truncated = e else { Issue.record("expected .truncated, got \(e)"); return }
        #expect(e.description.hasPrefix(last.location.name))
    }

    @Test("pairs stay within a D3 record and are reproducible per epoch")
    func recordPairs() throws {
        let ds = try ImageDataset.webDataset(shards: [Self.tar("d3_pax.tar")])
        let sampler = PairSampler(dataset: ds, seed: 42)
        #expect(sampler.pairsPerEpoch == 3)  // rec_a, rec_b and the long key; rec_c has no fakes
        for epoch in 0..<5 {
            let pairs = sampler.pairs(epoch: epoch)
            #expect(pairs.count == 3)
            for p in pairs {
                #expect(ds.samples[p.real].label == .real && ds.samples[p.fake].label == .fake)
                #expect(ds.samples[p.real].record == ds.samples[p.fake].record)
            }
            #expect(pairs == PairSampler(dataset: ds, seed: 42).pairs(epoch: epoch))
        }
    }

    @Test("global pairing: min(#real, #fake) pairs, each image once, epochs differ")
    func globalPairs() {
        let samples = (0..<50).map { i in
            ImageSample(location: .file(URL(fileURLWithPath: "/x/\(i).jpg")), label: i < 20 ? .real : .fake)
        }
        let sampler = PairSampler(dataset: ImageDataset(samples: samples), seed: 7)
        let e0 = sampler.pairs(epoch: 0), e1 = sampler.pairs(epoch: 1)
        #expect(e0.count == 20 && Set(e0.map(\.real)).count == 20 && Set(e0.map(\.fake)).count == 20)
        #expect(e0.allSatisfy { $0.real < 20 && $0.fake >= 20 })
        #expect(e0 != e1, "epochs should reshuffle")
        #expect(e0 == PairSampler(dataset: ImageDataset(samples: samples), seed: 7).pairs(epoch: 0))
        #expect(e0 != PairSampler(dataset: ImageDataset(samples: samples), seed: 8).pairs(epoch: 0))
    }

    @Test("bounded uniform draws cover the range evenly")
    func below() {
        // Property: 60,000 draws over 6 values; each count within 5 standard deviations (sd ~ 91).
        var rng = Xoshiro256(seed: 1)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[PairSampler.below(6, &rng)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 460 }, "\(counts)")
    }

    @Test("folder layout: real/ and fake/<generator>/, recursive, sorted, hidden and non-image files skipped")
    func folder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-folder-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let files = ["real/b.jpg", "real/a/c.PNG", "real/.hidden.jpg", "real/notes.txt", "fake/sd14/x.jpg",
                     "fake/sd14/deep/y.webp", "fake/z.bmp", "fake/.cache/w.jpg"]
        for f in files {
            let url = root.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data([1]).write(to: url)
        }
        let ds = try ImageDataset.folder(root)
        let names = ds.samples.map { String($0.location.name.dropFirst(root.path.count + 1)) }
        #expect(names == ["real/a/c.PNG", "real/b.jpg", "fake/sd14/deep/y.webp", "fake/sd14/x.jpg", "fake/z.bmp"])
        #expect(ds.samples.map(\.generator) == [nil, nil, "sd14", "sd14", nil])
        #expect(ds.samples.map(\.label) == [.real, .real, .fake, .fake, .fake])
        try FileManager.default.removeItem(at: root.appendingPathComponent("fake"))
        let e = try #require(throws: DatasetError.self) { try ImageDataset.folder(root) }
        #expect(e.description.contains("fake/"))
    }

    @Test("CSV manifests: RFC 4180 quoting, extra columns, split filter, specific errors")
    func manifest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = "path,split,label,generator,source\r\n" +
            "train/real/a.jpg,train,real,none,\"x, y\"\r\n" +
            "\"train/fake/b \"\"q\"\".jpg\",train,fake,SD1.4,z\r\n" +
            "val/fake/c.jpg,val,1,,\"multi\nline\"\n"
        let url = dir.appendingPathComponent("manifest.csv")
        try csv.write(to: url, atomically: true, encoding: .utf8)
        let all = try ImageDataset.manifest(url)
        #expect(all.samples.map(\.location) == [.file(dir.appendingPathComponent("train/real/a.jpg")),
                                                .file(dir.appendingPathComponent("train/fake/b \"q\".jpg")),
                                                .file(dir.appendingPathComponent("val/fake/c.jpg"))])
        #expect(all.samples.map(\.label) == [.real, .fake, .fake] && all.samples.map(\.generator) == [nil, "SD1.4", nil])
        #expect(try ImageDataset.manifest(url, split: "val").count == 1)

        let bad: [(String, String)] = [
            ("file,label\na.jpg,real\n", "'path' and 'label'"),
            ("path,label\na.jpg,real\nb.jpg,maybe\n", ":3: label 'maybe'"),
            ("path,label\na.jpg,real,extra\n", ":2: 3 fields"),
            ("path,label\n\"a.jpg,real\n", "unterminated quoted field"),
        ]
        for (text, reason) in bad {
            try text.write(to: url, atomically: true, encoding: .utf8)
            let e = try #require(throws: DatasetError.self) { try ImageDataset.manifest(url) }
            #expect(e.description.hasPrefix(url.path) && e.description.contains(reason), "\(e)")
        }
    }

    static let sharedShard = Fixtures.root.appendingPathComponent("../../../shared/data/d3-sample/elsa_v2-0000.tar").standardizedFileURL

    @Test("the real D3 sample shard from shared/data", .enabled(if: FileManager.default.fileExists(atPath: sharedShard.path)))
    func sharedD3Sample() throws {
        let ds = try ImageDataset.webDataset(shards: [Self.sharedShard])
        #expect(ds.realCount == 1 && ds.fakeCount == 4)
        let reader = SampleReader()
        let sizes = try ds.samples.map { s -> [Int] in let i = try reader.image(s); return [i.width, i.height] }
        // Tar order (gen_0..3, then real); sizes from shared/data/README.md: real 225x225, gen_0 256x256, gen_1 512x512, gen_2/3 640x360.
        #expect(sizes == [[256, 256], [512, 512], [640, 360], [640, 360], [225, 225]])
    }
}
