import CoDEImage

/// The real JPEG round trip for ``JPEGOp``: encode with libjpeg-turbo at the given quality
/// (Pillow's defaults: 4:2:0, standard tables, baseline — byte-identical to
/// `PIL.Image.save(quality=q)`), then decode as PIL would. Compression artefacts are what the
/// detector must learn to ignore, so training uses this codec.
public struct TurboJPEGCodec: JPEGCodec {
    public init() {}

    public func roundTrip(_ image: RGBImage, quality: Int) throws -> RGBImage {
        try ImageDecoder.decode(data: ImageEncoder.jpeg(image, quality: quality), source: "JPEG re-encode at quality \(quality)")
    }
}
