/// Limits that bound the work and memory spent on one (possibly hostile) image file.
///
/// Every decoder reads the dimensions from the header and checks `width * height <= maxPixels`
/// before it allocates any pixel buffer, so the largest allocation is about `maxPixels * 4` bytes
/// (RGB output plus, for some layouts, one native-layout copy).
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted `width * height`. The default, 89,478,485, is PIL's `MAX_IMAGE_PIXELS`.
    public var maxPixels: Int
    /// Largest accepted file, in bytes (checked before reading a file into memory).
    public var maxFileBytes: Int
    /// Largest number of scans accepted in a progressive JPEG (libjpeg-turbo's TurboJPEG API
    /// suggests 500 against scan-flooding files); `0` means no limit.
    public var maxProgressiveScans: Int
    /// When `true` (the default), a codec warning (e.g. libjpeg's "Corrupt JPEG data: ...") fails
    /// decoding. PIL ignores such warnings; set `false` to decode those files the way PIL does.
    public var warningsAreErrors: Bool

    public init(maxPixels: Int = 89_478_485, maxFileBytes: Int = 1 << 30,
                maxProgressiveScans: Int = 500, warningsAreErrors: Bool = true) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.maxProgressiveScans = maxProgressiveScans
        self.warningsAreErrors = warningsAreErrors
    }
}
