// The umbrella module: `import CoDEKit` brings in every public CoDEKit module.
@_exported import CoDECore
@_exported import CoDEImage
@_exported import CoDEModel
@_exported import CoDEContrastive
@_exported import CoDEAugment
@_exported import CoDEClassifiers
@_exported import CoDEDistributed
