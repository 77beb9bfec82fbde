import WeftPlugin

Plugin.main()
