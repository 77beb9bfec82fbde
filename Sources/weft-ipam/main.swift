import WeftPlugin

Plugin.main(.ipam)
