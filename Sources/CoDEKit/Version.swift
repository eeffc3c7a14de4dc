/// The version the tools print for `--version`: the package version and the SHA-256 of the
/// bundled model's `model.safetensors` (checked against the file by `BundledModelTests`).
public enum CoDEKitVersion {
    /// The package version (the one place it is written).
    public static let version = "0.1.0"
    /// SHA-256 of `Resources/DefaultModel/model.safetensors`.
    public static let bundledModelSHA256 = "cdc39039c399e8728097da79b44360ba0ed57cb153744d7eb8a1e4ef0db62465"

    /// `CoDEKit 0.1.0 (bundled model SHA-256 …)`.
    public static var description: String { "CoDEKit \(version) (bundled model SHA-256 \(bundledModelSHA256))" }
}
